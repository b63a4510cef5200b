"""`causette chat`: talk to a flow in the terminal, with a fake clock you move by hand."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from bots.http import AiohttpCaller
from bots.terminal import draw
from flows.compiler import CompiledFlow
from flows.conversation import FlowRuntimeError, Status, TurnContext
from flows.durations import parse_duration
from flows.simulator import BotMessage, Simulator
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.inbound import InboundFile, InboundLocation, InboundPostback, InboundText

HELP = """\
Type a message and press Enter. Commands:
  /data VALUE        tap a chip or button whose data is VALUE
  /location LAT,LNG  share a location
  /file URL          send a file
  /wait DURATION     let time pass (30s, 10m, 2h, 1d): due `after` timers fire
  /state             show the state, variables, choices in force and armed timers
  /help              this help
  /quit              leave (Ctrl-D too)"""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    channel: Channel
    contact: Mapping[str, Any]
    variables: Mapping[str, Any]
    env: Mapping[str, str]


class ChatSession:
    def __init__(self, flow: CompiledFlow, options: ChatOptions, console: Console) -> None:
        self.flow = flow
        self.options = options
        self.console = console
        self.clock = FakeClock(datetime.now(UTC))

    async def run(self, read_line: Callable[[], Awaitable[str | None]]) -> int:
        context = TurnContext(
            contact=self.options.contact, channel=self.options.channel, env=self.options.env
        )
        async with AiohttpCaller() as http:
            simulator = Simulator(self.flow, context=context, clock=self.clock, http=http)
            self.console.print(
                f"[dim]{self.flow.id} on {self.options.channel.value}: /help for commands[/dim]"
            )
            if not await self._show(simulator.start(self.options.variables)):
                return 1
            while simulator.status is Status.ACTIVE:
                line = await read_line()
                if line is None or line.strip() in ("/quit", "/exit"):
                    break
                if line.strip():
                    await self._handle(simulator, line.strip())
            if simulator.status is not Status.ACTIVE:
                self.console.print(f"[dim]conversation {simulator.status}[/dim]")
        return 0

    async def _handle(self, simulator: Simulator, line: str) -> None:
        command, _, argument = line.partition(" ")
        argument = argument.strip()
        try:
            match command:
                case "/help":
                    self.console.print(HELP)
                case "/state":
                    self._print_state(simulator)
                case "/data" if argument:
                    await self._show(simulator.receive(InboundPostback(data=argument)))
                case "/wait" if argument:
                    await self._show(simulator.wait(parse_duration(argument)))
                    self.console.print(f"[dim]now {self.clock.now():%Y-%m-%d %H:%M} UTC[/dim]")
                case "/location" if argument:
                    lat, lng = (float(part) for part in argument.split(","))
                    await self._show(
                        simulator.receive(InboundLocation(latitude=lat, longitude=lng))
                    )
                case "/file" if argument:
                    await self._show(simulator.receive(InboundFile(url=argument)))
                case _ if command.startswith("/"):
                    self.console.print(f"[red]unknown or incomplete command {line!r}[/red]; /help")
                case _:
                    await self._show(simulator.receive(InboundText(text=line)))
        except ValueError as error:
            self.console.print(f"[red]{error}[/red]")

    async def _show(self, turn: Awaitable[list[BotMessage]]) -> bool:
        try:
            messages = await turn
        except FlowRuntimeError as error:
            self.console.print(f"[bold red]flow error:[/bold red] {error}")
            return False
        for message in messages:
            self.console.print(draw(message))
        return True

    def _print_state(self, simulator: Simulator) -> None:
        snapshot = simulator.snapshot
        if snapshot is None:
            return
        self.console.print(f"state: [bold]{snapshot.state}[/bold] ({snapshot.status})")
        self.console.print(f"vars: {snapshot.vars}")
        if snapshot.choices:
            shown = ", ".join(f"{c.number}={c.data}" for c in snapshot.choices.choices)
            self.console.print(f"choices: {shown}")
        for key, due in sorted(simulator.timers.items(), key=lambda item: item[1]):
            self.console.print(f"timer {key} at {due:%Y-%m-%d %H:%M} UTC")


def run_chat(flow: CompiledFlow, options: ChatOptions, console: Console) -> int:
    echo = not sys.stdin.isatty()  # piped input is not echoed by a terminal: show it

    async def read_line() -> str | None:
        try:
            line = await asyncio.to_thread(console.input, "[bold green]vous ›[/bold green] ")
        except EOFError:
            return None
        if echo:
            console.print(line, highlight=False)
        return line

    session = ChatSession(flow, options, console)
    try:
        return asyncio.run(session.run(read_line))
    except KeyboardInterrupt:
        return 130
    except FlowRuntimeError as error:
        console.print(f"[bold red]flow error:[/bold red] {error}")
        return 1
