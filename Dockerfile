# The Airflow image with kessai's pinned runtime lock (requirements.txt: no test or development
# tools); dags/, plugins/ and sql/ are mounted.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt /opt/kessai/requirements.txt
RUN pip install --no-cache-dir -r /opt/kessai/requirements.txt
# Airflow puts the mounted plugins/ on its own processes' path; `python -m kessai` (airflow-init's
# migrations, the operators' commands) runs outside Airflow and finds the same mounted package here.
ENV PYTHONPATH=/opt/airflow/plugins \
    KESSAI_SQL_DIR=/opt/airflow/sql \
    KESSAI_HOME=/opt/airflow/var
