"""Google's OAuth token endpoint, played locally: what lets a real `causette serve` talk to the
RBM emulator through google-auth's own service-account flow (a signed JWT posted to the key's
`token_uri`, a bearer token back), as the chaos runs and the multi-process tests do.

`service_account_key` makes a key of a fresh RSA key whose `token_uri` is the local endpoint;
`add_token_endpoint` serves that endpoint on an aiohttp application. The token is not checked
by the emulator (any bearer passes, unless it is given one to expect).
"""

from __future__ import annotations

import json

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_PATH = "/token"
ACCESS_TOKEN = "ya29.sandbox"


def service_account_key(token_uri: str, project: str = "causette-sandbox") -> str:
    """A service account key (JSON) of a fresh 2048-bit RSA key, pointing at `token_uri`."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": project,
            "private_key_id": project,
            "private_key": pem,
            "client_email": f"rbm@{project}.iam.gserviceaccount.com",
            "token_uri": token_uri,
        }
    )


def add_token_endpoint(app: web.Application, path: str = TOKEN_PATH) -> None:
    """Answer google-auth's token request at `path` with `ACCESS_TOKEN`, valid one hour."""

    async def token(_: web.Request) -> web.Response:
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 3600})

    app.router.add_post(path, token)
