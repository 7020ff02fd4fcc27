"""Code that runs where a task runs: in the local backend and inside provision/collect pods.

Only the standard library and fsspec: the filer image carries this package and nothing of Airflow.
"""
