"""The card gateway a deployment configured (docs/card-gateway.md): the HTTP gateway, or the
simulator with its ledger. Apart from kessai.gateway.card_gateway so that the protocol and the
simulator need nothing of the HTTP client, which builds on them."""

from __future__ import annotations

from kessai.gateway.card_gateway import HTTP, CardGateway, CardGatewaySettings, SimulatorGateway
from kessai.gateway.http_gateway import HttpCardGateway


def open_card_gateway(settings: CardGatewaySettings) -> CardGateway:
    """The gateway the settings name, ready for calls; close it when done."""
    if settings.kind == HTTP:
        return HttpCardGateway(settings)
    return SimulatorGateway(settings.simulator_ledger)
