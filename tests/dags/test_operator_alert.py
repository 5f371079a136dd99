"""A task that fails for good mails the operators (DEFAULT_ARGS' on_failure_callback)."""


def test_a_task_failing_for_good_mails_the_operators(run_dag, smtp_server, monkeypatch):
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", "ops@example.jp")
    # 2027-01-09 is a Saturday: the transmission refuses it at once, without retries.
    run = run_dag("card_transmission", "2027-01-09")
    assert run.state == "failed"

    [alert] = [mail for mail in smtp_server.messages if mail.envelope_to == ["ops@example.jp"]]
    assert "card_transmission" in alert.subject and "resolve_business_date" in alert.subject
    assert "2027-01-09" in alert.subject
    assert "2027-01-09" in alert.text and "business day" in alert.text
