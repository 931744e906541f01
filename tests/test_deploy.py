"""The scheduling examples in deploy/: each calls the CLI with options it has, and acts on its exit codes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from etl import __version__
from etl.cli import main

DEPLOY = Path(__file__).parent.parent / "deploy"


def assert_valid_etl_arguments(arguments: list[str]) -> None:
    """The arguments parse: with --help appended, click exits 0 only when every option before it exists."""
    result = CliRunner().invoke(main, [*arguments, "--help"])
    assert result.exit_code == 0, (arguments, result.output)


def etl_commands(text: str) -> list[list[str]]:
    """The arguments of every `.../etl ...` command in a shell or unit file (up to ; or a redirection)."""
    commands = []
    for match in re.finditer(r"/bin/etl ([^;\n>]*)", text):
        commands.append(shlex.split(match.group(1).replace("\\%", "%")))
    return commands


def test_the_crontab_runs_probes_and_verifies_with_real_options():
    commands = etl_commands((DEPLOY / "crontab").read_text())
    assert [command[1] for command in commands] == ["run", "status", "verify"]
    for command in commands:
        assert_valid_etl_arguments(command)


def test_the_systemd_service_treats_a_busy_job_as_success_and_its_timer_runs_it():
    service = (DEPLOY / "systemd" / "jdp-etl.service").read_text()
    (command,) = etl_commands(service)
    assert_valid_etl_arguments(command)
    assert "Type=oneshot" in service and "SuccessExitStatus=75" in service
    timer = (DEPLOY / "systemd" / "jdp-etl.timer").read_text()
    assert "OnUnitInactiveSec=" in timer and "WantedBy=timers.target" in timer


def test_the_kubernetes_cronjob_forbids_overlap_and_ignores_busy():
    cronjob = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert_valid_etl_arguments(container["args"])
    ignored = next(rule for rule in job["podFailurePolicy"]["rules"] if rule["action"] == "Ignore")
    assert 75 in ignored["onExitCodes"]["values"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it


# --- Kubernetes: every manifest against the API's own schema, and sharded ones against the CLI ----------

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))


def job_spec(manifest: dict) -> dict:
    """The Job's spec: a CronJob's template, or the Job's own."""
    return manifest["spec"]["jobTemplate"]["spec"] if manifest["kind"] == "CronJob" else manifest["spec"]


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_every_kubernetes_manifest_is_valid_for_the_api(path):
    # kubernetes-validate carries the API's OpenAPI schemas; strict: an unknown field is an error.
    kubernetes_validate.validate(yaml.safe_load(path.read_text()), kubernetes_validate.latest_version(), strict=True)


def test_the_validator_refuses_a_field_the_api_does_not_have():
    cronjob = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    cronjob["spec"]["jobTemplate"]["spec"]["completionsMode"] = "Indexed"  # a typo of completionMode
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("name, command", [("cronjob-sharded.yaml", "run"), ("retranslate-indexed-job.yaml", "retranslate")])
def test_an_indexed_job_gives_each_pod_its_shard_of_as_many_as_it_has_pods(name, command):
    manifest = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    job = job_spec(manifest)
    assert job["completionMode"] == "Indexed" and job["parallelism"] == job["completions"]
    (container,) = job["template"]["spec"]["containers"]
    arguments = container["args"]
    assert command in arguments and arguments[arguments.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{job['completions']}"
    for index in (0, job["completions"] - 1):  # as Kubernetes expands it in pod `index`
        assert_valid_etl_arguments([argument.replace("$(JOB_COMPLETION_INDEX)", str(index)) for argument in arguments])
    ignored = next(rule for rule in job["podFailurePolicy"]["rules"] if rule["action"] == "Ignore")
    assert {75, 143} <= set(ignored["onExitCodes"]["values"])


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_every_pod_limits_its_cpu_so_that_auto_workers_fit_its_memory(path):
    # workers: auto follows the pod's CPU limit (etl.pipeline.coordinator.available_cores); without one
    # it would follow the node's cores, up to 4 processes of ~100 MB each.
    manifest = yaml.safe_load(path.read_text())
    job = job_spec(manifest)
    for container in job["template"]["spec"]["containers"]:
        limits = container["resources"]["limits"]
        assert int(limits["cpu"]) <= 2 and limits["memory"] == "512Mi"


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_every_pod_pushes_its_metrics_to_a_pushgateway(path):
    # A pod has no textfile collector: the Pushgateway is how its metrics reach Prometheus. The URL
    # comes from the pod's environment, which --pushgateway of the command the pod runs defaults to.
    (container,) = job_spec(yaml.safe_load(path.read_text()))["template"]["spec"]["containers"]
    environment = {variable["name"]: variable["value"] for variable in container["env"]}
    assert environment["ETL_PUSHGATEWAY"].startswith("http://")
    command = main.commands[next(argument for argument in container["args"] if argument in main.commands)]
    (option,) = [parameter for parameter in command.params if "--pushgateway" in parameter.opts]
    assert option.envvar == "ETL_PUSHGATEWAY"


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_every_pod_runs_as_the_images_own_user_without_privilege(path):
    # The Containerfile's USER is numeric: Kubernetes can check it is not root before it starts the pod.
    user = re.search(r"^USER (\S+)", (DEPLOY.parent / "Containerfile").read_text(), re.MULTILINE).group(1)
    assert user.isdigit() and int(user) != 0
    for container in job_spec(yaml.safe_load(path.read_text()))["template"]["spec"]["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


# --- What each example installs ----------------------------------------------------------------------------

HOSTS = [DEPLOY / "crontab", DEPLOY / "systemd" / "jdp-etl.service"]


@pytest.mark.parametrize("path", HOSTS + MANIFESTS, ids=[path.name for path in HOSTS + MANIFESTS])
def test_every_example_installs_the_image_or_wheel_of_this_version(path):
    # The Containerfile and `pip wheel` make the version of etl/__init__.py: a bump changes these too.
    named = re.findall(r"/jdp-etl:(\S+)|jdp_etl-(\S+?)-py3-none-any\.whl", path.read_text())
    assert named and {image or wheel for image, wheel in named} == {__version__}
