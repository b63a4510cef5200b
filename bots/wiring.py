"""From `bots.yaml` to the channels: provider clients, the outbox router, the webhooks.

`causette serve` wires the real providers; `causette demo` the same code to the sandbox.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from aiolimiter import AsyncLimiter

from agents.google_auth import ServiceAccountTokens, TokenSource
from agents.rbm import RbmClient, normalise_agent_id
from agents.smsmode import SmsmodeClient
from bots.config import BotSettings, Settings
from bots.runtime import Runtime
from fallback.channels import BotChannels
from fallback.credit_gate import CreditGate
from fallback.policy import RcsPolicy
from fallback.router import Router
from fallback.send_gate import SendGate, SendRules
from flows.validation import load_flow
from messaging.channel import Channel
from messaging.clock import Clock
from messaging.renderers.rbm import traffic_for_flow
from sessions.billing import Billing, BotBilling
from store.base import Store
from store.compliance_records import OptOut
from webhooks.rbm import SubscriptionChange, add_rbm_webhook
from webhooks.smsmode import SmsRoute, add_smsmode_callbacks

RBM_WEBHOOK_PATH = "/webhooks/rbm"
SMSMODE_CALLBACK_PREFIX = "/webhooks/smsmode"


def default_channel(bot: BotSettings) -> Channel:
    """The channel a bot's conversations start on: RCS when it has an agent, then Time2Chat."""
    if bot.rcs is not None:
        return Channel.RCS
    return Channel.T2C if bot.t2c is not None else Channel.SMS


def callback_token(secret: str, bot_id: str) -> str:
    """The unguessable part of a bot's smsmode callback URLs: smsmode signs nothing, so the
    URL is the credential (reference/sms.md §1.4). Derived, so nothing more to configure."""
    return hmac.new(secret.encode(), bot_id.encode(), hashlib.sha256).hexdigest()[:32]


def build_router(
    settings: Settings,
    environ: Mapping[str, str],
    session: aiohttp.ClientSession,
    *,
    store: Store,
    clock: Clock,
    owner: str,
    rbm_tokens: TokenSource | None = None,
    rng: random.Random | None = None,
    billing: Billing | None = None,
) -> Router:
    """The outbox router for every bot of the settings (secrets read from `environ`)."""
    rbm, smsmode = settings.providers.rbm, settings.providers.smsmode
    tokens = rbm_tokens
    if rbm is not None and tokens is None:
        tokens = ServiceAccountTokens(environ[rbm.credentials_env])
    sms_client = None
    if smsmode is not None:
        sms_client = SmsmodeClient(
            session, api_key=environ[smsmode.api_key_env], base_url=smsmode.base_url
        )
    bots = {}
    for bot in settings.bots:
        callback = None
        if smsmode is not None and settings.public_url:
            token = callback_token(environ[smsmode.callback_secret_env], bot.id)
            callback = f"{settings.public_url.rstrip('/')}{SMSMODE_CALLBACK_PREFIX}/{token}"
        client, limiter, rcs = None, None, RcsPolicy()
        if bot.rcs is not None and rbm is not None and tokens is not None:
            client = RbmClient(
                session, agent_id=bot.rcs.agent, tokens=tokens, base_url=rbm.url, clock=clock
            )
            rcs = bot.rcs.policy()
            limiter = AsyncLimiter(rcs.rate, 1)
        bots[bot.id] = BotChannels(
            rbm=client,
            t2c_number=bot.t2c.number if bot.t2c else None,
            sms_sender=bot.sms.sender if bot.sms else None,
            traffic=traffic_for_flow(load_flow(bot.flow).flow.traffic.value),
            rcs=rcs,
            status_url=callback,
            mo_url=callback,
            limiter=limiter,
            business=bot.business(settings),
            consent_field=(
                bot.compliance.consent_field if bot.compliance.consent_required else None
            ),
        )
    return Router(
        store,
        clock,
        bots,
        sms_client,
        owner=owner,
        policy=settings.dispatch.policy(),
        rng=rng,
        billing=billing,
        credits=CreditGate(store, settings.billing.policy()) if settings.billing.prepaid else None,
        gate=SendGate(store, send_rules(settings)),
    )


def send_rules(settings: Settings) -> SendRules:
    """The deployment's sending rules (`compliance:` of bots.yaml)."""
    compliance = settings.compliance
    return SendRules(
        policy=compliance.gate(),
        stop_mention=compliance.stop_mention,
        force_stop_mention=compliance.force_stop_mention,
        senders=compliance.sender_ids.rules(),
    )


def subscription_recorder(
    settings: Settings, store: Store
) -> Callable[[SubscriptionChange], Awaitable[None]]:
    """RBM's UNSUBSCRIBE (and SUBSCRIBE) user events, recorded as opt-outs (and opt-ins) of the
    bot's business, shared with its SMS numbers (R25)."""
    businesses = {bot.id: bot.business(settings) for bot in settings.bots}

    async def record(change: SubscriptionChange) -> None:
        business = businesses.get(change.bot_id)
        if business is not None:
            word = "SUBSCRIBE" if change.subscribed else "UNSUBSCRIBE"
            await store.set_opt_out(
                OptOut(business, change.phone, not change.subscribed, change.at, f"rbm:{word}")
            )

    return record


def billing_from_settings(settings: Settings, store: Store) -> Billing:
    """The ledger writer of the settings' bots (`billing:` and each bot's agent category)."""
    bots = {
        bot.id: BotBilling(
            agent_id=normalise_agent_id(bot.rcs.agent) if bot.rcs else None,
            t2c_number=bot.t2c.number if bot.t2c else None,
            conversational=bot.rcs is not None and bot.rcs.billing == "conversational",
        )
        for bot in settings.bots
    }
    return Billing(store, settings.billing.policy(), bots)


def add_webhooks(
    app: web.Application, settings: Settings, environ: Mapping[str, str], runtime: Runtime
) -> None:
    """The RBM webhook and the smsmode callbacks of every bot, writing to the runtime's store."""
    rbm, smsmode = settings.providers.rbm, settings.providers.smsmode
    if rbm is not None:
        add_rbm_webhook(
            app,
            RBM_WEBHOOK_PATH,
            store=runtime.store,
            clock=runtime.clock,
            client_token=environ[rbm.client_token_env],
            agents={bot.rcs.agent: bot.id for bot in settings.bots if bot.rcs is not None},
            on_inbound=runtime.wake,
            on_subscription_change=subscription_recorder(settings, runtime.store),
        )
    if smsmode is not None:
        secret = environ[smsmode.callback_secret_env]
        routes = {
            callback_token(secret, bot.id): SmsRoute(
                bot.id,
                "t2c" if bot.t2c is not None else "sms",
                bot.t2c.number if bot.t2c is not None else None,
            )
            for bot in settings.bots
        }
        add_smsmode_callbacks(
            app,
            SMSMODE_CALLBACK_PREFIX,
            store=runtime.store,
            clock=runtime.clock,
            routes=routes,
            on_inbound=runtime.wake,
        )
