"""The pipeline (issue 15 item 4): the workflow builds and lints every Bicep file with the real
compiler, runs what-if where Azure sign-in exists, deploys on a tag (infrastructure, keys, the
package, every tenant file) and offboards only by hand."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML, in the dev tree (pre-commit, checkov)

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "infra.yml"


def jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text("utf-8"))["jobs"]


def script(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_issue15_item4_every_bicep_file_is_built_and_linted():
    check = script(jobs()["check"])
    assert "az bicep build --file" in check and "az bicep lint --file" in check
    assert "find infra -name '*.bicep'" in check
    assert "pytest -q -p no:cacheprovider tests/infra" in check and "make package" in check


def test_issue15_item4_what_if_runs_only_where_azure_sign_in_is_configured():
    what_if = jobs()["what-if"]
    assert "vars.AZURE_CLIENT_ID != ''" in what_if["if"]
    assert "az deployment group what-if" in script(what_if)


def test_issue15_item4_a_tag_deploys_everything_and_every_tenant():
    deploy = jobs()["deploy"]
    assert deploy["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert deploy["environment"] == "production"
    text = script(deploy)
    for command in ("--template-file infra/main.bicep", "python -m sendsecure.provision", "make package",
                    "config-zip", "for file in infra/tenants/*.json", "--template-file infra/tenant.bicep",
                    'tenantDefinition=@"$file"'):
        assert command in text


def test_issue15_item4_offboarding_is_by_hand_behind_the_environment():
    offboard = jobs()["offboard"]
    assert "workflow_dispatch" in offboard["if"] and offboard["environment"] == "production"
    assert 'python -m sendsecure.offboard "$TENANT" --yes' in script(offboard)


def addin_step() -> dict:
    (step,) = [s for s in jobs()["deploy"]["steps"] if s.get("name", "").startswith("Add-in static files")]
    return step


def test_issue15_item1_the_add_in_is_built_for_its_host_and_served_with_headers():
    step = addin_step()
    assert step["env"]["ADDIN_PATH"] == "/addin" and "apiBaseUrl" in step["env"]["API_BASE"]
    assert "infra/addin/staticwebapp.config.json > site/staticwebapp.config.json" in step["run"]
    config = json.loads((ROOT / "infra" / "addin" / "staticwebapp.config.json").read_text("utf-8"))
    headers = config["globalHeaders"]
    assert headers["X-Content-Type-Options"] == "nosniff" and "max-age=" in headers["Strict-Transport-Security"]
    assert "object-src 'none'" in headers["Content-Security-Policy"]


def directives(policy: str) -> dict[str, str]:
    parts = [part.strip().split(None, 1) for part in policy.replace("\n", " ").split(";") if part.strip()]
    return {part[0]: " ".join(part[1].split()) if len(part) > 1 else "" for part in parts}


def documented_policy(api_origin: str) -> str:
    """The policy docs/addin.md says a production host must send, with its API origin."""
    doc = (ROOT / "docs" / "addin.md").read_text("utf-8")
    section = doc[doc.index("## Content-Security-Policy"):]
    block = section.split("```", 2)[1].strip()
    return block.replace("[API origin]", api_origin)


def test_fresh_clone_4_the_deployed_add_in_sends_the_documented_content_security_policy(tmp_path):
    """The pipeline's lines that write site/staticwebapp.config.json, run as written: the policy the
    static web app sends is the documented one, directive for directive, and the development host's."""
    from devhost.addin import content_security_policy

    api_base = "https://func-sendsecure-prod-abc123.azurewebsites.net/api/v1"
    origin = "https://func-sendsecure-prod-abc123.azurewebsites.net"
    lines = [line for line in addin_step()["run"].splitlines()
             if "api_origin" in line or "staticwebapp.config.json" in line]
    (tmp_path / "infra" / "addin").mkdir(parents=True)
    (tmp_path / "site").mkdir()
    shutil.copy(ROOT / "infra" / "addin" / "staticwebapp.config.json", tmp_path / "infra" / "addin")
    result = subprocess.run(["bash", "-euc", "\n".join(lines)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "API_BASE": api_base}, timeout=30)
    assert result.returncode == 0, result.stderr
    sent = json.loads((tmp_path / "site" / "staticwebapp.config.json").read_text("utf-8"))
    policy = sent["globalHeaders"]["Content-Security-Policy"]
    assert directives(policy) == directives(documented_policy(origin))
    assert directives(policy) == directives(content_security_policy(api_base))
    assert directives(policy)["connect-src"] == f"'self' {origin} https://login.microsoftonline.com"


def test_fresh_clone_11_every_repository_variable_and_output_the_pipeline_uses_is_in_deployment_md():
    import re

    doc = (ROOT / "docs" / "deployment.md").read_text("utf-8")
    one_time = doc[doc.index("One-time:"):doc.index("```", doc.index("One-time:"))]
    used = set(re.findall(r"vars\.([A-Z][A-Z0-9_]*)", WORKFLOW.read_text("utf-8")))
    missing = sorted(name for name in used if f"`{name}`" not in one_time)
    assert not missing, f"repository variables the workflow reads, not in deployment.md's One-time list: {missing}"
    outputs = set(re.findall(r"^output (\w+) ", (ROOT / "infra" / "main.bicep").read_text("utf-8"), re.MULTILINE))
    (listed,) = [line for line in doc.splitlines() if line.startswith("# outputs:")]
    assert outputs == {name.strip() for name in listed.removeprefix("# outputs:").split(",")}
