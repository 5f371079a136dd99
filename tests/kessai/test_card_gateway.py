"""The card gateways: the simulator's behaviour per test token, and the HTTP client against a real
HTTP server playing the gateway (tests/support/gateway_server.py)."""

from __future__ import annotations

import logging

import pytest

from kessai.gateway.card_gateway import (
    CREDENTIALS_REFUSED,
    DECLINED,
    ERROR,
    HTTP,
    KIND_DECLINED,
    KIND_FAULT,
    KIND_SUCCEEDED,
    SIMULATED_TOKEN_PREFIXES,
    SUCCEEDED,
    UNKNOWN,
    CardGatewaySettings,
    ChargeResult,
    GatewayConfigurationError,
    SimulatorGateway,
    gateway_settings,
)
from kessai.gateway.configured import open_card_gateway
from kessai.gateway.http_gateway import HttpCardGateway
from support.gateway_server import API_KEY, gateway_server  # noqa: F401 (a fixture)

KEY = "recurring:M1:900000000001202702:2027-02"


# -- the simulator ------------------------------------------------------------------------------


def test_the_simulator_approves_any_token_without_a_test_prefix_once_per_key():
    gateway = SimulatorGateway()
    first = gateway.charge(KEY, "tok_ok_visa", 980, reference="900000000001202702")
    assert (first.outcome, first.reason) == (SUCCEEDED, None) and first.charge_id.startswith("sim_")
    # The same key again answers the first charge; another key is another charge.
    assert gateway.charge(KEY, "tok_ok_visa", 980, reference="900000000001202702") == first
    assert gateway.charge(KEY + "x", "tok_ok_visa", 980, reference="1").charge_id != first.charge_id
    assert gateway.lookup(KEY) == first
    assert gateway.lookup("never-sent") is None


def test_the_simulator_token_prefixes_decline_time_out_and_fail():
    assert SIMULATED_TOKEN_PREFIXES == {"decline": "tok_decline_", "timeout": "tok_timeout_", "error": "tok_error_"}
    gateway = SimulatorGateway()
    declined = gateway.charge("k-decline", "tok_decline_1", 500, reference="1")
    assert (declined.outcome, declined.reason) == (DECLINED, "card_declined")
    assert gateway.lookup("k-decline") == declined
    # A timeout: the charge went through but its answer was lost; the lookup finds it.
    assert gateway.charge("k-timeout", "tok_timeout_1", 500, reference="2") == ChargeResult(UNKNOWN, "timeout")
    assert gateway.lookup("k-timeout").outcome == SUCCEEDED
    # A server error: nothing was charged, and the lookup finds nothing.
    assert gateway.charge("k-error", "tok_error_1", 500, reference="3") == ChargeResult(UNKNOWN, "server_error_500")
    assert gateway.lookup("k-error") is None


def test_the_simulator_ledger_file_outlives_the_process_that_charged(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    first = open_card_gateway(CardGatewaySettings(simulator_ledger=str(ledger)))
    charged = first.charge(KEY, "tok_timeout_x", 700, reference="1")
    first.close()
    second = open_card_gateway(CardGatewaySettings(simulator_ledger=str(ledger)))
    assert charged.outcome == UNKNOWN and second.lookup(KEY).outcome == SUCCEEDED
    second.close()


def test_settings_refuse_an_http_gateway_without_address_and_never_show_the_key():
    with pytest.raises(GatewayConfigurationError, match="needs a base URL"):
        CardGatewaySettings(kind=HTTP)
    with pytest.raises(GatewayConfigurationError, match="unknown card gateway 'stripe'"):
        CardGatewaySettings(kind="stripe")
    settings = CardGatewaySettings(kind=HTTP, base_url="https://gateway.example", api_key="sk_live_secret")
    assert "sk_live_secret" not in repr(settings)


def test_which_gateway_a_run_uses():
    connection = {
        "host": "gateway.example",
        "schema": None,
        "port": 8443,
        "password": "sk_test",
        "extra": {"timeout": "5", "max_retries": 4, "concurrency": 32},
    }
    # No setting: the HTTP gateway when its connection exists, else the simulator.
    http = gateway_settings(None, connection)
    assert (http.kind, http.base_url, http.api_key) == (HTTP, "https://gateway.example:8443", "sk_test")
    assert (http.timeout, http.max_retries, http.concurrency, http.backoff) == (5.0, 4, 32, 0.5)
    simulator = gateway_settings(None, None, simulator_ledger="/tmp/ledger.sqlite")
    assert (simulator.kind, simulator.simulator_ledger, simulator.concurrency) == (
        "simulator",
        "/tmp/ledger.sqlite",
        32,
    )
    # KESSAI_CARD_GATEWAY chooses; KESSAI_CHARGE_CONCURRENCY overrides the connection's extra.
    assert gateway_settings("simulator", connection, concurrency="8").kind == "simulator"
    assert gateway_settings("HTTP", connection, concurrency="8").concurrency == 8
    assert (
        gateway_settings("http", {**connection, "host": "http://127.0.0.1:8080/"}).base_url == "http://127.0.0.1:8080"
    )
    with pytest.raises(GatewayConfigurationError, match="needs the Airflow connection kessai_card_gateway"):
        gateway_settings("http", None)
    with pytest.raises(GatewayConfigurationError, match="timeout='soon' is not a number"):
        gateway_settings(None, {**connection, "extra": {"timeout": "soon"}})


# -- the HTTP client against a real server ------------------------------------------------------


@pytest.fixture
def server(gateway_server):
    return gateway_server


def http_gateway(server, **overrides) -> HttpCardGateway:
    values = dict(kind=HTTP, base_url=server.url, api_key=API_KEY, timeout=0.5, max_retries=2, backoff=0.01)
    return HttpCardGateway(CardGatewaySettings(**{**values, **overrides}))


def test_http_charges_once_per_idempotency_key(server):
    gateway = http_gateway(server)
    first = gateway.charge(KEY, "tok_ok_visa", 980, reference="900000000001202702")
    assert first.outcome == SUCCEEDED and first.charge_id
    assert gateway.charge(KEY, "tok_ok_visa", 980, reference="900000000001202702") == first
    assert gateway.lookup(KEY) == first
    assert gateway.lookup("recurring:M1:1:2027-02") is None
    assert server.executed == {KEY: 1} and server.seen[KEY] == 2
    slow = gateway.charge("k-slow", "tok_slow_1", 300, reference="2")
    assert slow.outcome == SUCCEEDED


def test_each_outcome_has_one_kind_of_the_taxonomy():
    assert {outcome: ChargeResult(outcome).kind for outcome in (SUCCEEDED, DECLINED, ERROR, UNKNOWN)} == {
        SUCCEEDED: KIND_SUCCEEDED,
        DECLINED: KIND_DECLINED,
        ERROR: KIND_DECLINED,
        UNKNOWN: KIND_FAULT,
    }
    assert [ChargeResult(o).is_final for o in (SUCCEEDED, DECLINED, ERROR, UNKNOWN)] == [True, True, True, False]


def test_http_declines_and_card_rejections_are_final(server):
    gateway = http_gateway(server)
    assert gateway.charge("k-decline", "tok_decline_1", 500, reference="1").outcome == DECLINED
    assert gateway.charge("k-decline", "tok_decline_1", 500, reference="1").reason == "insufficient_funds"
    rejected = gateway.charge("k-reject", "tok_reject_1", 500, reference="2")
    assert rejected == ChargeResult(ERROR, "rejected_422_invalid_card_token") and rejected.kind == KIND_DECLINED
    assert server.executed == {"k-decline": 1}


def test_http_a_refused_request_that_is_not_about_the_card_is_a_fault(server):
    gateway = http_gateway(server)
    # The test gateway answers 400 invalid_request to an amount of 0: our request, not the card.
    refused = gateway.charge("k-bad", "tok_ok_1", 0, reference="1")
    assert refused == ChargeResult(UNKNOWN, "rejected_400_invalid_request") and refused.kind == KIND_FAULT
    assert gateway.lookup("k-bad") is None


def test_http_every_gateway_fault_mode_is_a_fault(server):
    gateway = http_gateway(server, max_retries=1)
    server.fail_charges(500)
    assert gateway.charge("k-500", "tok_ok_1", 500, reference="1") == ChargeResult(UNKNOWN, "server_error_500")
    server.unreadable_answers()
    assert gateway.charge("k-garbled", "tok_ok_1", 500, reference="2") == ChargeResult(UNKNOWN, "unreadable_answer")
    # Neither executed anything, and the lookups say so honestly.
    assert (gateway.lookup("k-500"), gateway.lookup("k-garbled"), server.executed_total()) == (None, None, 0)
    server.time_out_after_executing()
    assert gateway.charge("k-late", "tok_ok_1", 500, reference="3") == ChargeResult(UNKNOWN, "timeout")
    assert gateway.lookup("k-late").outcome == SUCCEEDED and server.executed["k-late"] == 1
    assert server.seen == {"k-500": 2, "k-garbled": 1, "k-late": 1}


def test_http_repeats_a_server_error_with_the_same_key_and_then_reports_it_unknown(server):
    gateway = http_gateway(server)
    # tok_flaky_: 503 the first time; the repeat with the same key is charged, once.
    assert gateway.charge("k-flaky", "tok_flaky_1", 500, reference="1").outcome == SUCCEEDED
    assert (server.seen["k-flaky"], server.executed["k-flaky"]) == (2, 1)
    # tok_error_: 500 every time: 1 + max_retries requests, then unknown; the lookup finds nothing.
    assert gateway.charge("k-error", "tok_error_1", 500, reference="2") == ChargeResult(UNKNOWN, "server_error_500")
    assert server.seen["k-error"] == 3
    assert gateway.lookup("k-error") is None


def test_http_timeout_is_unknown_and_the_lookup_finds_the_charge(server):
    gateway = http_gateway(server)
    # The server charges, then holds its answer 2 s, past the client's 0.5 s.
    assert gateway.charge("k-timeout", "tok_timeout_1", 500, reference="1") == ChargeResult(UNKNOWN, "timeout")
    assert gateway.lookup("k-timeout").outcome == SUCCEEDED
    assert server.executed["k-timeout"] == 1


def test_http_gateway_unreachable_is_unknown_not_a_failure(server):
    gateway = http_gateway(server)
    server.go_down()  # every connection dropped without an answer
    result = gateway.charge("k-down", "tok_ok_1", 500, reference="1")
    assert result.outcome == UNKNOWN
    assert gateway.lookup("k-down").outcome == UNKNOWN
    closed = http_gateway(server, base_url="http://127.0.0.1:9")  # nothing listens on the discard port
    assert closed.charge("k-closed", "tok_ok_1", 500, reference="1") == ChargeResult(UNKNOWN, "connect_error")


def test_http_refused_credentials_are_a_fault_named_for_the_operators(server, caplog):
    gateway = http_gateway(server, api_key="wrong")
    with caplog.at_level(logging.ERROR):
        assert gateway.charge(KEY, "tok_ok_visa", 980, reference="1") == ChargeResult(UNKNOWN, CREDENTIALS_REFUSED)
        assert gateway.lookup(KEY) == ChargeResult(UNKNOWN, CREDENTIALS_REFUSED)
    assert "refused the credentials (HTTP 401): check the password of the Airflow connection" in caplog.text
    assert server.executed == {}


def test_http_never_logs_the_card_token(server, caplog):
    gateway = http_gateway(server)
    token = "tok_timeout_4111111111111111"
    with caplog.at_level(logging.DEBUG):
        gateway.charge("k-log", token, 500, reference="1")
        gateway.charge("k-log-error", "tok_error_4111111111111111", 500, reference="2")
        gateway.lookup("k-log")
    assert caplog.records, "the client logs its requests (so this check can fail)"
    assert "4111111111111111" not in caplog.text
    assert API_KEY not in caplog.text


def test_the_simulator_authorizes_once_per_key_and_its_void_tokens_refuse_or_fail():
    from kessai.gateway.card_gateway import APPROVED, KIND_FAULT, REFUSED, SIMULATED_VOID_TOKEN_PREFIXES, VOIDED

    assert SIMULATED_VOID_TOKEN_PREFIXES == {"void_refused": "tok_void_refused_", "void_error": "tok_void_error_"}
    gateway = SimulatorGateway()
    approved = gateway.authorize("a-1", "tok_ok", 3000, reference="1")
    assert approved.kind == APPROVED and len(approved.approval_number) == 6
    assert gateway.authorize("a-1", "tok_ok", 3000, reference="1") == approved  # the same key: the same answer
    assert gateway.authorize("a-2", "tok_decline_1", 3000, reference="2").kind == DECLINED
    failed = gateway.authorize("a-3", "tok_error_1", 3000, reference="3")
    assert (failed.kind, failed.reason) == (KIND_FAULT, "server_error_500")
    lost = gateway.authorize("a-4", "tok_timeout_1", 3000, reference="4")
    assert (lost.kind, lost.reason) == (KIND_FAULT, "timeout")
    assert gateway.authorize("a-4", "tok_timeout_1", 3000, reference="4").kind == APPROVED  # answered when asked again
    assert gateway.void("v-1", approved.transaction_id, 1000).kind == VOIDED
    assert gateway.void("v-1", approved.transaction_id, 1000).kind == VOIDED
    assert gateway.executed_voids() == [("v-1", approved.transaction_id, 1000)]  # once per key
    refused = gateway.authorize("a-5", "tok_void_refused_1", 3000, reference="5")
    refusal = gateway.void("v-2", refused.transaction_id, 3000)
    assert (refusal.kind, refusal.reason) == (REFUSED, "void_not_permitted")
    failing = gateway.authorize("a-6", "tok_void_error_1", 3000, reference="6")
    assert gateway.void("v-3", failing.transaction_id, 3000).kind == KIND_FAULT
    assert len(gateway.executed_voids()) == 1
