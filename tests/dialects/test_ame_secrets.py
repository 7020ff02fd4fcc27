"""A secret's value never reaches the DAG docs, the built operators or the compiled (cached) IR."""

from __future__ import annotations

import pickle

from airflow_taskspec import build, ir, resolve
from airflow_taskspec.backends import for_settings
from airflow_taskspec.config import settings

SECRET_VALUE = "s3cr3t-v4lue-never-shown"


def test_a_secret_does_not_leak_into_doc_md_or_the_rendered_task(write_project, dag_folder, monkeypatch):
    # The value exists where the local backend reads it at run time (an Airflow Variable from the environment).
    monkeypatch.setenv("AIRFLOW_VAR_BLOB_STORAGE_KEY", SECRET_VALUE)
    write_project("p", """
        name: p
        tasks:
          - name: t
            secrets:
              - !ame
                key: blob_storage_key
                injectAs: BLOB
            executor: !custom
              command: echo "$BLOB"
        """)
    c = resolve.compile_paths([str(dag_folder)])
    (wf,) = c.workflows
    assert ir.task_runs(wf.graph)[0].secrets == (ir.SecretRef(ir.SecretStore.PLATFORM, "blob_storage_key", "BLOB"),)
    assert SECRET_VALUE.encode() not in pickle.dumps(wf)

    dag = build.build_dag(wf, for_settings(settings()))
    assert "blob_storage_key" in dag.doc_md and SECRET_VALUE not in dag.doc_md
    for task in dag.tasks:
        rendered = {name: getattr(task, name, None) for name in task.template_fields}
        assert SECRET_VALUE not in repr(rendered), task.task_id
        assert SECRET_VALUE not in repr(vars(task)), task.task_id
