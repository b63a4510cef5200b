"""How `causette validate --cost` shows its estimates: one table per flow, then a legend."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bots.cost import ESTIMATE_AT, Bill, FlowCost, PathCost
from bots.cost_inputs import ANSWERED, BACKEND_MODES, FAILED
from bots.cost_paths import REPLY_DELAY

WARNING: Final = "⚠"
WIDE: Final = 150
"""The width used when the output is not a terminal (a file, a pipe) and COLUMNS is unset."""

_BACKEND_NOTES: Final = {
    ANSWERED: "backend call answered with a made-up body",
    BACKEND_MODES[1]: "backend call answered with its flags false (made up)",
    FAILED: "backend call failed (on_error)",
}


def cost_console() -> Console:
    console = Console(highlight=False)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(highlight=False, width=WIDE)


def print_costs(costs: list[FlowCost], console: Console) -> None:
    for cost in costs:
        if cost.error is not None:
            console.print(Text(f"{cost.path}: cost not estimated: {cost.error}"))
            continue
        console.print(_table(cost))
        for note in cost.notes:
            console.print(Text(f"  {note}", style="dim"))
    if any(cost.error is None for cost in costs):
        console.print(Text(legend(costs[0].currency), style="dim"))


def legend(currency: str) -> str:
    start = ESTIMATE_AT
    minutes = int(REPLY_DELAY.total_seconds() // 60)
    return (
        f"Amounts in {currency} for one conversation with a recipient in France, starting "
        f"{start:%a %d/%m/%Y %H:%M} ({start.tzinfo}), the person answering {minutes} min "
        "after each message; the shortest path found to each ending. "
        "RCS: non-conversational agent, each message rcs_basic or rcs_single (R21). "
        "RCS conv.: conversational agent, a reply opens a 24 h session (R22), unanswered "
        "messages are billed one by one. SMS T2C: the bot writes first (t2c_mt, R12), the "
        "first reply opens a session until midnight (t2c_session, R14-R16), a message of more "
        f"than one segment is billed sms_mt per segment (R13, marked {WARNING}). Not included: "
        "the monthly RCS agent fee (R24), what is said after a handoff."
    )


def _table(cost: FlowCost) -> Table:
    table = Table(
        title=f"{cost.flow}: {cost.path}",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("Ending")
    table.add_column("Path (states visited)", ratio=3)
    table.add_column("Turns", justify="right")
    table.add_column("Msgs\nRCS/SMS", justify="right")
    table.add_column("RCS", justify="right")
    table.add_column("RCS\nconv.", justify="right")
    table.add_column("SMS\nT2C", justify="right")
    table.add_column("SMS\nsegs", justify="right")
    table.add_column("Warnings and notes", ratio=2)
    for path in cost.paths:
        table.add_row(*_row(path))
    for ending, kind, reason in cost.not_estimated:
        table.add_row(
            f"{ending}\n({kind})", "not estimated", "", "", "–", "–", "–", "", Text(reason)
        )
    return table


def _row(path: PathCost) -> list[str | Text]:
    rcs, sms = path.rcs, path.sms
    shown = rcs or sms
    route = " → ".join(shown.states) if shown else ""
    if rcs and sms and sms.states != rcs.states:
        route += "\nSMS: " + " → ".join(sms.states)
    turns = {len(bill.moves) for bill in (rcs, sms) if bill}
    sms_cell = Text(_money(sms.total) if sms else "–")
    if sms and sms.long:
        sms_cell.append(f" {WARNING}", style="bold yellow")
    return [
        f"{path.ending}\n({path.kind})",
        route,
        "/".join(str(n) for n in sorted(turns)),
        f"{_count(rcs)}/{_count(sms)}",
        _money(rcs.total) if rcs else "–",
        _money(path.rcs_conversational.total) if path.rcs_conversational else "–",
        sms_cell,
        str(sms.segments) if sms else "–",
        Text("\n".join(warnings(path))),
    ]


def warnings(path: PathCost) -> list[str]:
    """The long SMS (naming the state that sends them), then how the backend answered."""
    lines: list[str] = []
    if path.sms is not None:
        for message in path.sms.long:
            lines.append(f"{WARNING} {message.state}: {message.segments} SMS segments")
    backend = [mode for bill in (path.rcs, path.sms) if bill for mode in bill.backend]
    lines.extend(_BACKEND_NOTES[mode] for mode in backend)
    lines.extend(path.notes)
    return list(dict.fromkeys(lines))


def _count(bill: Bill | None) -> str:
    return str(len(bill.messages)) if bill else "–"


def _money(amount: Decimal) -> str:
    return f"{amount:.3f}"
