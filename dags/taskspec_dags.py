# The Airflow DAG folder loader of taskspec: every ame.yml / ame.yaml below this folder becomes DAGs.
from airflow_taskspec.loader import load_dags

load_dags(__file__, globals())
