"""``--tls-cert``/``--tls-key`` and ``--cors-origin``: options ``pycluster head`` and
``pycluster api`` share for their web app (see web/tls.py and web/cors.py)."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["web_options", "web_overrides"]


def web_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--tls-cert",
                type=click.Path(dir_okay=False),
                help="Serve the dashboard and API over HTTPS with this PEM certificate (chain); needs "
                "--tls-key.  [default: PYCLUSTER_TLS_CERT, else plain HTTP]",
            ),
            click.option(
                "--tls-key",
                type=click.Path(dir_okay=False),
                help="The certificate's PEM private key (chmod 600, not encrypted).  "
                "[default: PYCLUSTER_TLS_KEY]",
            ),
            click.option(
                "--cors-origin",
                "cors_origins",
                multiple=True,
                help="A site whose pages may call the API from a browser, such as https://app.example.org "
                "(repeatable; they send the API token).  [default: PYCLUSTER_CORS_ORIGINS, else none]",
            ),
        ]
    ):
        function = option(function)
    return function


def web_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """The settings overrides these options give (None: not given, the lower layers decide)."""
    return {
        "tls_cert": options.pop("tls_cert", None),
        "tls_key": options.pop("tls_key", None),
        "cors_origins": list(options.pop("cors_origins", ())) or None,
    }
