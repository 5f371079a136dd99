"""docker-compose.yaml cannot run here (no Docker engine): check what it configures instead.

The same topology (CeleryExecutor, Redis, PostgreSQL, scheduler, workers) runs natively in
tests/deploy/test_celery_topology.py.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}


def variables_used(text: str) -> set[str]:
    # ${NAME} and ${NAME:-default}; $${NAME} is a literal for the container's shell.
    return set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)(?::-[^}]*)?\}", text))


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_every_airflow_component_runs_with_its_command():
    for service, command in AIRFLOW_SERVICES.items():
        assert SERVICES[service]["command"] == command, service
        environment = SERVICES[service]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
        # one JWT secret for every container, else tasks fail with "Invalid auth token"
        assert environment["AIRFLOW__API_AUTH__JWT_SECRET"] == "${AIRFLOW_JWT_SECRET}"
    assert SERVICES["airflow-worker"]["deploy"]["replicas"] >= 2


def test_metadata_and_business_databases_are_separate_postgresql_servers():
    environment = SERVICES["airflow-scheduler"]["environment"]
    assert "@postgres/airflow" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@kessai-db:5432/kessai" in environment["AIRFLOW_CONN_KESSAI_DB"]
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["kessai-db"]["image"].startswith("postgres:")


def test_mailpit_is_the_smtp_connection_and_shows_mails_on_8025():
    assert "8025:8025" in SERVICES["mailpit"]["ports"]
    smtp = yaml.safe_load(SERVICES["airflow-worker"]["environment"]["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert (smtp["conn_type"], smtp["host"], smtp["port"]) == ("smtp", "mailpit", 1025)


def test_init_migrates_both_databases_before_the_rest_starts():
    script = "\n".join(SERVICES["airflow-init"]["command"])
    assert "airflow db migrate" in script and "python -m kessai db upgrade" in script
    # The bank master of the image's pinned zengin-code (a no-op when that version is loaded).
    assert script.index("python -m kessai db upgrade") < script.index("python -m kessai bank-master update")
    for service in AIRFLOW_SERVICES:
        assert SERVICES[service]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_mounted_folders_and_build_files_exist():
    for volume in SERVICES["airflow-scheduler"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_dir(), source
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and "apache/airflow:3.3" in dockerfile


def test_secrets_come_from_env_and_every_variable_is_in_env_example():
    text = (ROOT / "docker-compose.yaml").read_text()
    example = env_example()
    assert variables_used(text) <= set(example) | {"AIRFLOW_UID"}
    assert not re.search(r"PASSWORD:\s*(?!\$\{)\S", text), "a literal password in docker-compose.yaml"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored
