"""The policy file is validated at start-up: every inconsistency is refused, naming its line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minimaker
from minimaker import bootstrap
from minimaker.policy import LawfulBasis, PolicyRefused, load, parse
from minimaker.policy.residency import countries, in_eu, transfer_problem
from minimaker.settings import Settings
from tests.policy.files import line_of, policy_file, shipped_source
from tests.processes import process_env, run_module


def _refusal(source: str) -> str:
    with pytest.raises(PolicyRefused) as caught:
        parse(source, path=Path("operator-policy.yaml"))
    return str(caught.value)


def _edited(old: str, new: str) -> str:
    source = shipped_source()
    assert old in source
    return source.replace(old, new, 1)


def test_the_shipped_policy_is_coherent_and_keeps_marketing_on_consent_off_by_default() -> None:
    policy = load().policy
    marketing = policy.purposes["marketing"]
    assert marketing.lawful_basis is LawfulBasis.CONSENT
    assert marketing.consent and not marketing.consent_default
    # Policy 9.2: the basis of training is stated, and the subject may object to it.
    training = policy.purposes["training"]
    assert training.lawful_basis is LawfulBasis.LEGITIMATE_INTERESTS and training.objectable
    assert training.basis_detail
    assert {"smtp-relay", "analytics-provider"} <= set(policy.processors)
    assert all(p.dpa is not None for p in policy.processors.values())


def test_a_purpose_without_a_lawful_basis_is_refused_naming_its_line() -> None:
    source = _edited("    lawful_basis: a\n", "")
    message = _refusal(source)
    line = line_of(source, "  marketing:\n", after="purposes:")
    assert f"line {line} (purposes.marketing.lawful_basis): Field required" in message


def test_a_lawful_basis_that_is_not_one_of_art_6_is_refused_naming_its_line() -> None:
    source = _edited("    lawful_basis: f\n", "    lawful_basis: because\n")
    line = line_of(source, "lawful_basis: because")
    assert f"line {line} (purposes.analytics.lawful_basis)" in _refusal(source)


def test_a_category_without_retention_is_refused_naming_its_line() -> None:
    source = _edited(
        "    retention: Until the account is deleted. An account unused for 23 months is warned "
        "by email, with a one-click link to keep it, and erased at 24 months.\n",
        "",
    )
    line = line_of(source, "  account:\n")
    assert f"line {line} (categories.account.retention): Field required" in _refusal(source)


def test_a_processor_without_a_dpa_is_refused_naming_its_line() -> None:
    source = _edited('    dpa: {reference: MM-DPA-2025-02, signed: "2025-01-20"}\n', "")
    line = line_of(source, "  analytics-provider:\n")
    message = _refusal(source)
    assert f"line {line} (processors.analytics-provider): " in message
    assert "no data processing agreement (Art. 28(3)" in message


def test_a_consent_purpose_switched_on_by_default_is_refused_naming_its_line() -> None:
    source = _edited("    consent: true\n", "    consent: true\n    consent_default: true\n")
    line = line_of(source, "consent_default: true")
    message = _refusal(source)
    assert f"line {line} (purposes.marketing.consent_default)" in message
    assert "before the person opted in" in message


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        # Consent as a basis, but nobody is asked for it.
        ("    consent: true\n", "", "purposes.marketing.consent", "rests on consent"),
        # Asked for consent, but another basis claimed.
        ("    lawful_basis: a\n", "    lawful_basis: f\n", "purposes.marketing.lawful_basis", ""),
        # Legitimate interests without the right to object (Art. 21(1)).
        (
            "    categories: [usage_event]\n    objectable: true\n",
            "    categories: [usage_event]\n",
            "purposes.analytics.objectable",
            "Art. 21(1)",
        ),
        ("categories: [usage_event]\n", "categories: [usage_events]\n", "purposes.analytics", ""),
        ("    region: eu-de\n", "    region: us-east\n", "processors.smtp-relay.region", ""),
        (
            "    subjects: [users]\n",
            "    subjects: [visitors]\n",
            "categories.account.subjects",
            "",
        ),
        ("    purposes: [service]\n", "    purposes: [brokers]\n", "processors.smtp-relay", ""),
        # A processor receiving what none of its purposes may touch.
        (
            "    categories: [account, message]\n",
            "    categories: [account, usage_event]\n",
            "processors.smtp-relay.categories.1",
            "none of its purposes",
        ),
        # A misspelt key would be a rule the code silently does not obey.
        ("    objectable: true\n", "    objectible: true\n", "purposes.analytics.objectible", ""),
    ],
)
def test_each_inconsistency_is_refused_with_the_path_at_fault(
    old: str, new: str, path: str, reason: str
) -> None:
    message = _refusal(_edited(old, new))
    assert f"({path}" in message and reason in message
    assert "line " in message


def test_a_category_held_for_no_purpose_is_refused() -> None:
    source = _edited(
        "    categories: [usage_event]\n    objectable: true\n",
        "    categories: [account]\n    objectable: true\n",
    )
    assert "category usage_event is processed for no purpose" in _refusal(source)


def test_a_region_outside_the_eu_claiming_an_adequacy_decision_that_does_not_exist() -> None:
    source = _edited(
        "  eu-de:\n",
        "  cn-north:\n    description: x\n    country: CN\n    transfer: "
        '{safeguard: adequacy, reference: none, since: "2025-01-01"}\n  eu-de:\n',
    )
    assert "(regions.cn-north.transfer.safeguard): no adequacy decision covers CN" in _refusal(
        source
    )


def test_a_file_that_is_not_yaml_is_refused_with_the_line() -> None:
    source = _edited("controller:\n", "controller: [\n")
    assert "not valid YAML" in _refusal(source)
    assert "line 1: the file must be a mapping" in _refusal("- a list\n")


def test_the_eu_and_adequacy_lists_are_data_with_their_source_and_date() -> None:
    lists = countries()
    assert {"DE", "FR", "IE", "NO", "IS", "LI"} <= lists.eu_eea and "US" not in lists.eu_eea
    assert "JP" in lists.adequacy and "CN" not in lists.adequacy
    assert "commission.europa.eu" in lists.adequacy_source and lists.as_of
    policy = load().policy
    assert all(in_eu(region) for region in policy.regions.values())
    outside = policy.regions["eu-de"].model_copy(update={"country": "US"})
    assert "records no transfer safeguard" in str(transfer_problem("us", outside))


def test_an_operators_policy_file_is_the_one_in_force(tmp_path: Path, settings: Settings) -> None:
    path = policy_file(
        tmp_path / "operator",
        replace=(("  name: MiniMaker.ai\n", "  name: Operator GmbH\n"),),
    )
    c = bootstrap.build(settings.model_copy(update={"policy_file": path}))
    try:
        assert c.policy.controller.name == "Operator GmbH"
        assert c.policy_doc.path == path.resolve()
    finally:
        c.close()


def test_start_up_refuses_a_policy_that_leaves_out_a_category_the_code_stores(
    tmp_path: Path, settings: Settings
) -> None:
    # usage_event removed everywhere it is named: coherent on its own, but the code stores it.
    source = shipped_source()
    start = source.index("  usage_event:\n")
    end = source.index("  rights_archive:\n")
    source = source[:start] + source[end:]
    source = source.replace("    categories: [usage_event]\n", "    categories: [account]\n")
    path = tmp_path / "p" / "policy.yaml"
    path.parent.mkdir()
    path.write_text(source.replace("    categories: [account]\n", "    categories: [account]\n"))
    (path.parent / "data-protection-policy.txt").write_text("text")
    with pytest.raises(PolicyRefused, match="category usage_event is stored by the code"):
        bootstrap.build(settings.model_copy(update={"policy_file": path}))


def test_start_up_refuses_a_purpose_the_code_does_not_know(
    tmp_path: Path, settings: Settings
) -> None:
    path = policy_file(tmp_path / "p", replace=(("  generation:\n", "  brokers:\n"),))
    with pytest.raises(PolicyRefused, match="purpose brokers is not one the code knows"):
        bootstrap.build(settings.model_copy(update={"policy_file": path}))


def test_a_missing_policy_file_or_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyRefused, match="cannot read the file"):
        load(tmp_path / "nowhere.yaml")
    path = policy_file(tmp_path / "p")
    (path.parent / "data-protection-policy.txt").unlink()
    with pytest.raises(PolicyRefused, match=r"text_file data-protection-policy\.txt"):
        load(path)


def test_serve_refuses_to_start_on_an_inconsistent_policy_file_and_names_the_line(
    tmp_path: Path, settings: Settings
) -> None:
    path = policy_file(tmp_path / "p", replace=(("    lawful_basis: a\n", ""),))
    env = process_env(settings, MINIMAKER_POLICY_FILE=str(path))
    done = run_module("minimaker.entrypoints.cli", "serve", "--port", "0", env=env)
    line = line_of(path.read_text(), "  marketing:\n", after="purposes:")
    assert done.returncode == 2
    assert f"line {line} (purposes.marketing.lawful_basis): Field required" in done.stderr


def test_no_code_reads_the_shipped_policy_behind_the_containers_back() -> None:
    # The container holds the policy in force; code that read the shipped file instead would
    # obey MiniMaker's policy on an operator's machine that runs under its own.
    src = Path(minimaker.__file__).parent
    offenders = [
        f"{path.relative_to(src)}:{node.lineno}"
        for path in sorted(src.rglob("*.py"))
        if path.parent.name != "policy"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr)
        in ("load_policy", "policy_text", "SHIPPED")
    ]
    assert offenders == []
