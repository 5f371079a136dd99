# The Airflow image with kessai's pinned requirements; dags/, plugins/ and sql/ are mounted.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt /opt/kessai/requirements.txt
RUN pip install --no-cache-dir -r /opt/kessai/requirements.txt
ENV PYTHONPATH=/opt/airflow/plugins \
    KESSAI_SQL_DIR=/opt/airflow/sql \
    KESSAI_HOME=/opt/airflow/var
