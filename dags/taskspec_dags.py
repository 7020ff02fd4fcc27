# The Airflow DAG folder loader of taskspec: every AME project (ame.yml / ame.yaml) and PEACH project
# (peach.yaml / peach.conf/) below this folder becomes DAGs.
from airflow_taskspec.loader import load_dags

load_dags(__file__, globals())
