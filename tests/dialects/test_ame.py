"""The AME dialect, one test per behaviour of issue 3 (documented forms, AME's real forms, and every error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_taskspec import ir, resolve
from airflow_taskspec.errors import Severity

EXECUTOR = """
    executor:
      !pip
      pythonVersion: 3.11
      command: python main.py
"""


def compile_folder(folder: Path) -> resolve.Compilation:
    return resolve.compile_paths([str(folder)])


def workflow(c: resolve.Compilation, dag_id: str) -> ir.Workflow:
    found = {w.dag_id: w for w in c.workflows}
    assert dag_id in found, f"{dag_id} not in {sorted(found)}; errors: {[str(e) for e in c.errors.values()]}"
    return found[dag_id]


def only_run(wf: ir.Workflow) -> ir.TaskRun:
    runs = ir.task_runs(wf.graph)
    assert len(runs) == 1
    return runs[0]


def error_text(c: resolve.Compilation) -> str:
    return "\n".join(e.format() for e in c.errors.values())


def warning_text(c: resolve.Compilation) -> str:
    return "\n".join(d.format() for d in c.warnings)


# -- project name and file names ----------------------------------------------------------------------------------

def test_project_name_from_name_or_project(write_project, dag_folder):
    write_project("a", "name: alpha\ntasks:\n  - name: t\n" + EXECUTOR)
    write_project("b", "project: beta\ntasks:\n  - name: t\n" + EXECUTOR)
    c = compile_folder(dag_folder)
    assert {w.dag_id for w in c.workflows} == {"alpha.t", "beta.t"}


def test_ame_yaml_wins_over_ame_yml_with_a_warning(write_project, dag_folder):
    write_project("p", "name: fromyml\ntasks:\n  - name: t\n" + EXECUTOR, name="ame.yml")
    write_project("p", "name: fromyaml\ntasks:\n  - name: t\n" + EXECUTOR, name="ame.yaml")
    c = compile_folder(dag_folder)
    assert [w.dag_id for w in c.workflows] == ["fromyaml.t"]
    assert "ame.yml:1:1: warning: ignored: ame.yaml in the same folder is used instead" in warning_text(c)


# -- executors -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag, kind, command", [
    ("!poetry", ir.ExecutorKind.POETRY, "python x.py"),
    ("!pip", ir.ExecutorKind.PIP, "python x.py"),
    ("!pipEnv", ir.ExecutorKind.PIPENV, "python x.py"),
    ("!pipenv", ir.ExecutorKind.PIPENV, "python x.py"),
    ("!custom", ir.ExecutorKind.CUSTOM, "python x.py"),
    ("!mlflow", ir.ExecutorKind.MLFLOW, None),
])
def test_executor_tags(write_project, dag_folder, tag, kind, command):
    body = f"      command: {command}\n" if command else ""
    write_project("p", f"name: p\ntasks:\n  - name: t\n    executor:\n      {tag}\n      pythonVersion: 3.10\n{body}")
    run = only_run(workflow(compile_folder(dag_folder), "p.t"))
    assert run.recipe.kind is kind
    assert run.recipe.command == (command or "mlflow run .")
    assert run.recipe.python_version == "3.10"


def test_image_overrides_on_executor_and_task(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: on_executor
            executor: !custom
              command: ./run.sh
              image: registry.example/tool:1
          - name: on_task
            image: registry.example/task:2
            executor: !custom
              command: ./run.sh
        """)
    c = compile_folder(dag_folder)
    assert only_run(workflow(c, "p.on_executor")).image == "registry.example/tool:1"
    assert only_run(workflow(c, "p.on_task")).image == "registry.example/task:2"


def test_missing_project_file_is_a_compile_error_naming_it(write_project, dag_folder):
    spec = write_project("p", """
        name: p
        tasks:
          - name: train
            executor:
              !poetry
              pythonVersion: 3.11
              command: python train.py
        """, files=("pyproject.toml",))
    c = compile_folder(dag_folder)
    assert c.workflows == []
    text = error_text(c)
    assert f"{spec}:4:5: error: the `!poetry` executor of task 'train' needs poetry.lock" in text
    assert "add poetry.lock next to the ame.yaml" in text


def test_unknown_executor_tag_suggests_the_closest(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: t\n    executor: !peotry\n      command: x\n")
    assert "unknown executor tag '!peotry'" in error_text(compile_folder(dag_folder))
    assert "did you mean '!poetry'?" in error_text(compile_folder(dag_folder))


# -- resources -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("quantity", ["2.5E", "2.5Ei", "2.5T", "2.5Ti", "2.5G", "2.5Gi", "2.5M", "2.5Mi", "2.5k",
                                      "2.5Ki", "2.5", "2500m", "1e3"])
def test_every_documented_quantity_unit_is_accepted(write_project, dag_folder, quantity):
    write_project("p", f"name: p\ntasks:\n  - name: t\n    resources:\n      memory: {quantity}\n" + EXECUTOR)
    assert only_run(workflow(compile_folder(dag_folder), "p.t")).resources.memory == quantity


def test_resources_map_to_kubernetes_names(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: t
            resources:
              cpu: 500m
              memory: 10G
              storage: 30Gi
              nvidia.com/gpu: 1
              amd.com/gpu: 2
              example.com/fpga: 1
            executor: !custom
              command: x
        """)
    res = only_run(workflow(compile_folder(dag_folder), "p.t")).resources
    assert (res.cpu, res.memory, res.storage, res.gpu) == ("500m", "10G", "30Gi", 1)
    assert res.extra == (("amd.com/gpu", "2"), ("example.com/fpga", "1"))


@pytest.mark.parametrize("line, message", [
    ("nvidia.com/gpu: 0.5", "GPUs are whole numbers only, not '0.5'"),
    ("memory: 10GB", "'10GB' is not a Kubernetes quantity"),
    ("memmory: 1G", "unknown resource 'memmory'"),
])
def test_bad_resources_are_errors_at_their_key(write_project, dag_folder, line, message):
    spec = write_project("p", f"name: p\ntasks:\n  - name: t\n    resources:\n      {line}\n" + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert f"{spec}:5:7: error: " in text  # the resource's own key, not its value and not `resources:`
    assert message in text


# -- secrets -------------------------------------------------------------------------------------------------------

def test_every_secret_form_becomes_an_env_var_secret(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: t
            secrets:
              - !ame
                key: blob_storage_key
                injectAs: BLOB
              - ame:
                  key: real_form
                  injectAs: REAL
              - !vault
                vault: company_vault
                key: path/to/secret
                injectAs: COMPANY
            executor: !custom
              command: x
        """)
    run = only_run(workflow(compile_folder(dag_folder), "p.t"))
    assert run.secrets == (
        ir.SecretRef(ir.SecretStore.PLATFORM, "blob_storage_key", "BLOB"),
        ir.SecretRef(ir.SecretStore.PLATFORM, "real_form", "REAL"),
        ir.SecretRef(ir.SecretStore.VAULT, "path/to/secret", "COMPANY", "company_vault"),
    )


def test_a_secret_without_a_store_is_an_error_not_dropped(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: t\n    secrets:\n      - key: k\n        injectAs: K\n" + EXECUTOR)
    assert "a secret needs its store: write `- !ame`" in error_text(compile_folder(dag_folder))


def test_a_vault_secret_needs_its_vault(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: t\n    secrets:\n      - !vault\n        key: k\n"
                       "        injectAs: K\n" + EXECUTOR)
    assert "the `!vault` secret 'K' needs `vault:`" in error_text(compile_folder(dag_folder))


# -- environment ---------------------------------------------------------------------------------------------------

def test_environment_and_env_are_both_accepted(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: documented
            environment:
              - key: A
                val: "1"
            executor: !custom
              command: x
          - name: real
            env:
              - key: B
                val: two
            executor: !custom
              command: x
        """)
    c = compile_folder(dag_folder)
    assert only_run(workflow(c, "p.documented")).env == (ir.EnvVar("A", "1"),)
    assert only_run(workflow(c, "p.real")).env == (ir.EnvVar("B", "two"),)


@pytest.mark.parametrize("name", [*ir.PROVIDED_ENV_VARS, "TASKSPEC_ANYTHING"])
def test_overriding_a_provider_variable_is_an_error(write_project, dag_folder, name):
    spec = write_project("p", f"name: p\ntasks:\n  - name: t\n    env:\n      - key: {name}\n        val: x\n" + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert f"{spec}:5:14: error: environment variable '{name}' is set by taskspec itself" in text


# -- templates -----------------------------------------------------------------------------------------------------

TEMPLATE_PROJECT = """
    name: shared_templates
    templates:
      - name: xgboost_resources
        resources:
          memory: 10G
          cpu: "4"
        environment:
          - key: MODE
            val: template
          - key: KEEP
            val: from_template
        secrets:
          - !ame
            key: template_key
            injectAs: STORE
"""


def test_template_merge_precedence(write_project, dag_folder):
    write_project("shared", TEMPLATE_PROJECT)
    write_project("main", """
        name: main
        tasks:
          - name: train
            fromTemplate: shared_templates.xgboost_resources
            resources:
              cpu: "8"
            environment:
              - key: MODE
                val: task
            secrets:
              - !ame
                key: task_key
                injectAs: STORE
            executor: !custom
              command: x
        """)
    run = only_run(workflow(compile_folder(dag_folder), "main.train"))
    assert run.resources.cpu == "8" and run.resources.memory == "10G"  # map merged, task wins per key
    assert run.env == (ir.EnvVar("MODE", "task"), ir.EnvVar("KEEP", "from_template"))  # by key, order kept
    assert run.secrets == (ir.SecretRef(ir.SecretStore.PLATFORM, "task_key", "STORE"),)  # by injectAs, task wins
    assert run.source.folder == str(dag_folder / "main")  # the task runs in its own project


@pytest.mark.parametrize("ref", [
    "\n      name: base",
    " {name: base, project: p}",
    " p.base",
])
def test_template_reference_forms_and_nested_templates(write_project, dag_folder, ref):
    write_project("p", f"""
name: p
templates:
  - name: root
    executor: !custom
      command: from_root
  - name: base
    fromTemplate: root
    resources:
      memory: 1G
tasks:
  - name: t
    fromTemplate:{ref}
""")
    run = only_run(workflow(compile_folder(dag_folder), "p.t"))
    assert run.recipe.command == "from_root" and run.resources.memory == "1G"


def test_template_cycle_is_an_error_naming_the_cycle(write_project, dag_folder):
    spec = write_project("p", """
        name: p
        templates:
          - name: a
            fromTemplate: b
          - name: b
            fromTemplate: a
        tasks:
          - name: t
            fromTemplate: a
        """)
    text = error_text(compile_folder(dag_folder))
    assert "templates form a cycle: p.a -> p.b -> p.a" in text
    assert str(spec) in text


def test_cross_project_template_not_found_lists_projects(write_project, dag_folder):
    write_project("shared", TEMPLATE_PROJECT)
    write_project("main", "name: main\ntasks:\n  - name: t\n    fromTemplate:\n      name: x\n"
                          "      project: shared_tmplates\n" + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert "no AME project named 'shared_tmplates' in the DAG folder" in text
    assert "did you mean 'shared_templates'?" in text


def test_unknown_template_suggests_the_closest(write_project, dag_folder):
    write_project("shared", TEMPLATE_PROJECT)
    write_project("main", "name: main\ntasks:\n  - name: t\n    fromTemplate: shared_templates.xgboost_resource\n"
                  + EXECUTOR)
    assert "did you mean 'xgboost_resources'?" in error_text(compile_folder(dag_folder))


# -- task references -----------------------------------------------------------------------------------------------

REFERENCED = """
name: p
models:
  - name: recommender
    training:
      task:
        taskRef: train
    validationTask:
      taskRef: {name: check}
dataSets:
  - name: prepared
    path: data/prepared
    task:
      taskRef: prepare
tasks:
  - name: alias
    taskRef: train
  - name: alias_obj
    taskRef: {name: train}
  - name: flow
    pipeline:
      - taskRef: prepare
      - taskref: train
  - name: prepare
    executor: !custom
      command: prepare
  - name: train
    executor: !custom
      command: train
  - name: check
    executor: !custom
      command: check
"""


def test_task_references_everywhere_a_task_can_appear(write_project, dag_folder):
    write_project("p", REFERENCED)
    c = compile_folder(dag_folder)
    commands = lambda dag_id: [r.recipe.command for r in ir.task_runs(workflow(c, dag_id).graph)]
    assert commands("p.alias") == ["train"] and commands("p.alias_obj") == ["train"]
    assert commands("p.flow") == ["prepare", "train"]
    assert commands("p.recommender.training") == ["train", "check"]
    assert workflow(c, "p.prepare").produces == ("ame://p/prepared",)
    assert "`taskref` is accepted but AME documents `taskRef`" in warning_text(c)


def test_misspelled_task_ref_from_the_seed_suggests_the_name(write_project, dag_folder):
    spec = write_project("p", """
        project: xgboost_project
        tasks:
          - name: train_my_model
            pipeline:
              - - taskref: prepare_dataset_one
                - taskref: prepare_datast_two
              - taskref: training
          - name: prepare_dataset_one
            executor: !custom
              command: one
          - name: prepare_dataset_two
            executor: !custom
              command: two
          - name: training
            executor: !custom
              command: train
        """)
    text = error_text(compile_folder(dag_folder))
    assert f"{spec}:6:20: error: taskRef 'prepare_datast_two' names no task of project 'xgboost_project'" in text
    assert "did you mean 'prepare_dataset_two'?" in text


def test_task_reference_cycle_is_an_error(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: a\n    taskRef: b\n  - name: b\n    taskRef: a\n")
    assert "task references form a cycle: a -> b -> a" in error_text(compile_folder(dag_folder))


# -- pipelines -----------------------------------------------------------------------------------------------------

def test_pipeline_steps_parallel_nested_and_with_their_own_settings(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: flow
            env:
              - key: LEVEL
                val: pipeline
            pipeline:
              - - taskRef: one
                - taskRef: two
                  resources:
                    memory: 2Gi
                  env:
                    - key: LEVEL
                      val: step
                  secrets:
                    - !ame
                      key: k
                      injectAs: TOKEN
              - name: inner
                pipeline:
                  - name: a
                    executor: !custom
                      command: a
                  - name: b
                    executor: !custom
                      command: b
          - name: one
            executor: !custom
              command: one
          - name: two
            resources:
              memory: 1Gi
              cpu: "1"
            executor: !custom
              command: two
        """)
    graph = workflow(compile_folder(dag_folder), "p.flow").graph
    assert isinstance(graph, ir.Sequence) and isinstance(graph.steps[0], ir.Parallel)
    assert isinstance(graph.steps[1], ir.Sequence)
    one, two = graph.steps[0].branches
    assert one.env == (ir.EnvVar("LEVEL", "pipeline"),)
    assert two.env == (ir.EnvVar("LEVEL", "step"),)
    assert (two.resources.memory, two.resources.cpu) == ("2Gi", "1")
    assert two.secrets == (ir.SecretRef(ir.SecretStore.PLATFORM, "k", "TOKEN"),)
    assert [r.recipe.command for r in ir.task_runs(graph.steps[1])] == ["a", "b"]


def test_the_same_step_twice_gets_unique_names(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: flow\n    pipeline:\n      - taskRef: t\n      - taskRef: t\n"
                       "  - name: t\n" + EXECUTOR)
    names = [r.name for r in ir.task_runs(workflow(compile_folder(dag_folder), "p.flow").graph)]
    assert names == ["t", "t_2"]


# -- artifacts -----------------------------------------------------------------------------------------------------

def test_artifacts_and_artifact_cfg(write_project, dag_folder):
    write_project("p", """
        name: p
        tasks:
          - name: documented
            artifacts:
              paths: [out/model.pkl]
            executor: !custom
              command: x
          - name: real
            artifactCfg:
              saveChangedFiles: true
            executor: !custom
              command: x
        """)
    c = compile_folder(dag_folder)
    assert only_run(workflow(c, "p.documented")).artifacts == ir.Artifacts(("out/model.pkl",), False)
    assert only_run(workflow(c, "p.real")).artifacts == ir.Artifacts((), True)


# -- data sets -----------------------------------------------------------------------------------------------------

def test_data_set_across_two_project_folders(write_project, dag_folder):
    write_project("producer", """
        name: anotherproject
        dataSets:
          - name: somedataset
            path: data/some
            size: 2Gi
            task:
              name: fetch
              executor: !custom
                command: python fetch.py
        """)
    write_project("consumer", """
        name: artifact_example
        dataSets:
          - name: local
            path: data/local
            task:
              taskRef: make_local
        tasks:
          - name: make_local
            executor: !custom
              command: make
          - name: artifact_task
            executor: !custom
              command: python artifacts.py
            dataSets:
              - ref:
                  name: somedataset
                  project: anotherproject
              - anotherproject.somedataset
              - local
        """)
    c = compile_folder(dag_folder)
    producer = workflow(c, "anotherproject.fetch")
    assert producer.produces == ("ame://anotherproject/somedataset",)
    assert only_run(producer).publishes[0].path == "data/some"
    uses = only_run(workflow(c, "artifact_example.artifact_task")).data_sets
    remote = ir.DataSetUse("anotherproject", "somedataset", "data/some", "ame://anotherproject/somedataset",
                           "anotherproject.fetch", "2Gi")
    assert uses == (remote, remote, ir.DataSetUse("artifact_example", "local", "data/local",
                                                  "ame://artifact_example/local", "artifact_example.make_local"))
    assert workflow(c, "artifact_example.make_local").produces == ("ame://artifact_example/local",)


def test_unknown_data_set_is_an_error_with_a_suggestion(write_project, dag_folder):
    write_project("p", "name: p\ndataSets:\n  - name: images\n    path: d\n    task:\n      name: fetch\n"
                       "      executor: !custom\n        command: x\ntasks:\n  - name: t\n    dataSets: [imagse]\n"
                  + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert "project 'p' has no data set 'imagse'" in text and "did you mean 'images'?" in text


# -- models --------------------------------------------------------------------------------------------------------

def test_model_training_validation_schedule_and_deployment_warning(write_project, dag_folder):
    write_project("p", """
        name: p
        models:
          - name: recommender
            training:
              schedule: "0 3 * * *"
              task:
                name: train
                executor: !custom
                  command: train
            validation:
              task:
                name: validate
                executor: !custom
                  command: validate
            deployment:
              deploy: true
        """)
    c = compile_folder(dag_folder)
    wf = workflow(c, "p.recommender.training")
    assert wf.schedule == ir.Cron("0 3 * * *")
    assert [r.name for r in ir.task_runs(wf.graph)] == ["train", "validate"]
    assert any("deployment is not supported" in w for w in wf.warnings)
    assert "`deployment` is not supported by taskspec and is ignored" in warning_text(c)


def test_model_schedule_falls_back_to_the_task_trigger(write_project, dag_folder):
    write_project("p", "name: p\nmodels:\n  - name: m\n    training:\n      task:\n        taskRef: t\ntasks:\n"
                       "  - name: t\n    triggers:\n      schedule: '@daily'\n" + EXECUTOR)
    assert workflow(compile_folder(dag_folder), "p.m.training").schedule == ir.Cron("@daily")


# -- triggers ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule, expected", [
    ('"*/5 * * * *"', ir.Cron("*/5 * * * *")),
    ("'@hourly'", ir.Cron("@hourly")),
    ("'@continuous'", ir.Continuous()),
])
def test_schedules(write_project, dag_folder, schedule, expected):
    write_project("p", f"name: p\ntasks:\n  - name: t\n    triggers:\n      schedule: {schedule}\n" + EXECUTOR)
    assert workflow(compile_folder(dag_folder), "p.t").schedule == expected


@pytest.mark.parametrize("schedule, fires", [
    ("0 0 31 2 *", False), ("0 0 30 2 *", False), ("0 0 31 4,6,9,11 *", False),
    ("0 0 29 2 *", True),  # leap years only
    ("0 0 31 2 1", True),  # day fields or-ed as in cron and Airflow: every Monday in February
    ("0 0 31 * *", True),
])
def test_a_cron_that_matches_no_date_is_an_error(write_project, dag_folder, schedule, fires):
    spec = write_project("p", f'name: p\ntasks:\n  - name: t\n    triggers:\n      schedule: "{schedule}"\n'
                         + EXECUTOR)
    compiled = compile_folder(dag_folder)
    if fires:
        assert workflow(compiled, "p.t").schedule == ir.Cron(schedule)
    else:
        assert f"{spec}:5:17: error: schedule '{schedule}' matches no date" in error_text(compiled)


def test_unquoted_cron_from_the_seed_says_to_quote_it(write_project, dag_folder):
    spec = write_project("p", "name: p\ntasks:\n  - name: t\n    triggers:\n      schedule: *****\n" + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert f"{spec}:5:" in text
    assert 'quote it: for a cron schedule write `schedule: "* * * * *"`' in text


def test_invalid_cron_is_an_error(write_project, dag_folder):
    write_project("p", "name: p\ntasks:\n  - name: t\n    triggers:\n      schedule: '61 * * * *'\n" + EXECUTOR)
    assert "schedule '61 * * * *' is not a valid 5-field cron expression" in error_text(compile_folder(dag_folder))


# -- errors and older generations ---------------------------------------------------------------------------------

def test_unknown_key_is_an_error_with_did_you_mean(write_project, dag_folder):
    spec = write_project("p", "name: p\ntasks:\n  - name: t\n    resourses:\n      cpu: 1\n" + EXECUTOR)
    text = error_text(compile_folder(dag_folder))
    assert f"{spec}:4:5: error: unknown key 'resourses'\n    hint: did you mean 'resources'?" in text


@pytest.mark.parametrize("key, replacement", [
    ("runcommand", "`command:` inside the executor"),
    ("taskType", "the executor tag"),
    ("task_type", "the executor tag"),
    ("templateRef", "`fromTemplate: {name: ...}`"),
    ("dataSet", "`dataSets:`"),
    ("source", "the folder that holds the ame.yaml"),
    ("projectid", "the project is the file's folder"),
])
def test_legacy_task_keys_are_warnings_naming_the_replacement(write_project, dag_folder, key, replacement):
    spec = write_project("p", f"name: p\ntasks:\n  - name: t\n    {key}: old\n" + EXECUTOR)
    c = compile_folder(dag_folder)
    assert [w.dag_id for w in c.workflows] == ["p.t"]
    warning = next(d for d in c.warnings if d.line == 4)
    assert warning.severity is Severity.WARNING and warning.file == str(spec)
    assert f"`{key}` is a key of older AME files" in warning.message and replacement in warning.hint


def test_an_ame_v1_file_is_recognised(write_project, dag_folder):
    write_project("p", "projectid: old\ntasks:\n  - name: t\n    task_type: 2\n    command: x\n")
    assert "this is an AME v1 file (`projectid:` instead of `name:`)" in error_text(compile_folder(dag_folder))


def test_an_ame_v0_file_is_recognised(write_project, dag_folder):
    write_project("p", "projectname: old\ntasks:\n  t:\n    runcommand: x\n")
    assert "this is an AME v0 file" in error_text(compile_folder(dag_folder))


def test_a_broken_file_does_not_hide_other_files(write_project, dag_folder):
    write_project("good", "name: good\ntasks:\n  - name: t\n" + EXECUTOR)
    bad = write_project("bad", "name: bad\ntasks:\n  - name: t\n    executor: {}\n")
    c = compile_folder(dag_folder)
    assert [w.dag_id for w in c.workflows] == ["good.t"] and list(c.errors) == [str(bad)]


def test_legacy_model_keys_are_warnings_and_the_model_compiles(write_project, dag_folder):
    spec = write_project("p", """
        name: p
        models:
          - name: logreg
            type: mlflow
            training:
              task:
                taskRef: training
        tasks:
          - name: training
            executor: !mlflow
              command: mlflow run .
        """)
    c = compile_folder(dag_folder)
    assert sorted(w.dag_id for w in c.workflows) == ["p.logreg.training", "p.training"]
    assert c.errors == {}
    assert (f"{spec}:4:5: warning: `type` is a key of older AME models and is ignored here\n    hint: it was "
            "replaced by the executor of the model's training task (`executor: !mlflow` for an MLflow model)"
            ) in warning_text(c)


@pytest.mark.parametrize("files, tag", [
    (("requirements.txt",), "!pip"),
    (("pyproject.toml", "poetry.lock"), "!poetry"),
    (("Pipfile", "Pipfile.lock"), "!pipEnv"),
    (("MLproject",), "!mlflow"),
])
def test_a_legacy_command_hint_names_the_executor_the_project_files_suit(write_project, dag_folder, files, tag):
    spec = write_project("p", "name: p\ntasks:\n  - name: t\n    runcommand: python a.py\n", files=files)
    text = error_text(compile_folder(dag_folder))
    assert (f"{spec}:3:5: error: task 't' has no executor\n    hint: `runcommand` is from older AME files: the "
            f"executor replaced them. Write `executor: {tag}` (or ") in text


def test_a_legacy_command_hint_names_the_executor_the_file_uses(write_project, dag_folder):
    spec = write_project("p", """
        name: p
        tasks:
          - name: old
            command: python a.py
          - name: new
            executor: !poetry
              command: python b.py
        """, files=("requirements.txt", "pyproject.toml", "poetry.lock"))
    c = compile_folder(dag_folder)
    assert f"{spec}:3:5: error: task 'old' has no executor" in error_text(c)
    assert "Write `executor: !poetry` (or !pip, !pipEnv, !mlflow, !custom)" in error_text(c)
    assert ("it was replaced by `command:` inside the executor (`executor: !poetry` then `command: ...`)"
            in warning_text(c))


def test_a_task_level_command_beside_an_executor_is_a_hint_to_move_it(write_project, dag_folder):
    spec = write_project("p", """
        name: p
        tasks:
          - name: t
            executor: !pip
              pythonVersion: "3.11"
            runcommand: python train.py
        """)
    c = compile_folder(dag_folder)
    assert (f"{spec}:4:5: error: the `!pip` executor of task 't' needs a `command`\n    hint: move `runcommand:` "
            "(line 6) under `executor: !pip` and call it `command:`") in error_text(c)
    assert (f"{spec}:6:5: warning: `runcommand` is a key of older AME files and is ignored here\n    hint: it was "
            "replaced by `command:` inside the executor: move `command:` under `executor: !pip`") in warning_text(c)


# -- a bad project name hides nothing else -------------------------------------------------------------------------

@pytest.mark.parametrize("head, name_error", [
    ("tasks:\n", "1:1: error: missing required key 'name'"),
    ("name: [p]\ntasks:\n", "1:7: error: 'name' must be a string, not a list"),
    ("name: p\nproject: p\ntasks:\n", "1:1: error: `name` and `project` both set the project name; keep one of them"),
])
def test_a_bad_project_name_still_reports_the_errors_normalising_finds(write_project, dag_folder, head, name_error):
    spec = write_project("p", head + "  - name: t\n    taskRef: nowhere\n  - name: ok\n" + EXECUTOR)
    write_project("q", "name: q\ntasks:\n  - name: t\n" + EXECUTOR)
    c = compile_folder(dag_folder)
    assert [w.dag_id for w in c.workflows] == ["q.t"]  # the other project is untouched, this one builds nothing
    errors = [d.format().splitlines()[0] for d in c.errors[str(spec)].diagnostics]
    assert errors[0] == f"{spec}:{name_error}"
    assert c.errors[str(spec)].diagnostics[0].hint.endswith("no DAG of this file is built until this is fixed")
    assert any(e.startswith(f"{spec}:") and "taskRef 'nowhere' names no task of project" in e for e in errors)


def test_the_v1_migration_example_in_the_docs_compiles(tmp_path):
    from tests.conftest import REPO

    docs = (REPO / "docs" / "ame.md").read_text()
    section = docs.split("### Migrating an AME v1 file", 1)[1]
    before, after = [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:3]]
    folder = tmp_path / "dags" / "poetry"
    folder.mkdir(parents=True)
    for name in ("pyproject.toml", "poetry.lock"):
        (folder / name).write_text("")
    (folder / "ame.yaml").write_text(before)
    assert "this is an AME v1 file" in error_text(compile_folder(tmp_path / "dags"))
    (folder / "ame.yaml").write_text(after)
    c = compile_folder(tmp_path / "dags")
    assert c.errors == {}
    run = only_run(workflow(c, "poetry.training"))
    assert (run.recipe.kind, run.recipe.command) == (ir.ExecutorKind.POETRY, "python nn.py")
