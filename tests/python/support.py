"""Shared by the anon_telemetry tests: the package from this checkout, the library under
test (ANON_TELEMETRY_LIB, which tests/integration/python.sh sets from ANON_BUILD), a clean
telemetry environment, a scratch directory per test, and readers of the spool."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "python"))

_build = os.environ.get("ANON_BUILD", "build")
BUILD = Path(_build) if os.path.isabs(_build) else ROOT / _build
if not os.environ.get("ANON_TELEMETRY_LIB"):
    for name in ("libanontelemetry.so.1", "libanontelemetry.so"):
        if (BUILD / name).exists():
            os.environ["ANON_TELEMETRY_LIB"] = str(BUILD / name)
            break
SPOOL_BIN = BUILD / "anon-telemetry-spool"
TOKENS_BIN = BUILD / "anon-telemetry-tokens"

# the telemetry variables of the caller's shell must not leak into the tests
for _v in ("NEMO_TELEMETRY_ENABLED", "NEMO_DEPLOYMENT_TYPE", "NEMO_TELEMETRY_ENDPOINT",
           "NEMO_SESSION_PREFIX", "ANON_TELEMETRY_SPOOL"):
    os.environ.pop(_v, None)

import anon_telemetry  # noqa: E402  (after sys.path and the environment are set)

# The parameters in wire order with their defaults (anon-telemetry(7)); None = required.
FIELDS = [
    ("nemoSource", "nemo_source", "anonymizer"),
    ("task", "task", None),
    ("taskStatus", "task_status", None),
    ("deploymentType", "deployment_type", "sdk"),
    ("jobDurationSec", "job_duration_sec", -1.0),
    ("numInputRecords", "num_input_records", -1),
    ("numSuccessRecords", "num_success_records", -1),
    ("numFailureRecords", "num_failure_records", -1),
    ("avgTokensPerRecord", "avg_tokens_per_record", -1),
    ("transformationType", "transformation_type", None),
    ("customDataSummaryProvided", "custom_data_summary_provided", False),
    ("customPrivacyGoalProvided", "custom_privacy_goal_provided", False),
    ("customSubstituteInstructionsProvided", "custom_substitute_instructions_provided", False),
    ("maxRepairIterations", "max_repair_iterations", -1),
    ("strictEntityProtection", "strict_entity_protection", False),
    ("repairIterationsTriggered", "repair_iterations_triggered", -1),
    ("entityDetectorModel", "entity_detector_model", None),
    ("entityValidatorModel", "entity_validator_model", None),
    ("entityAugmenterModel", "entity_augmenter_model", None),
    ("latentDetectorModel", "latent_detector_model", "not_applicable"),
    ("replacementGeneratorModel", "replacement_generator_model", "not_applicable"),
    ("domainClassifierModel", "domain_classifier_model", "not_applicable"),
    ("dispositionAnalyzerModel", "disposition_analyzer_model", "not_applicable"),
    ("meaningExtractorModel", "meaning_extractor_model", "not_applicable"),
    ("qaGeneratorModel", "qa_generator_model", "not_applicable"),
    ("rewriterModel", "rewriter_model", "not_applicable"),
    ("evaluatorModel", "evaluator_model", "not_applicable"),
    ("repairerModel", "repairer_model", "not_applicable"),
    ("judgeModel", "judge_model", "not_applicable"),
    ("modelHosts", "model_hosts", []),
    ("entityDetectionFailureCount", "entity_detection_failure_count", 0),
    ("latentDetectionFailureCount", "latent_detection_failure_count", 0),
    ("replaceMapGenerationFailureCount", "replace_map_generation_failure_count", 0),
    ("rewritePipelineFailureCount", "rewrite_pipeline_failure_count", 0),
    ("rewriteEvaluateFailureCount", "rewrite_evaluate_failure_count", 0),
    ("rewriteRepairFailureCount", "rewrite_repair_failure_count", 0),
    ("rewriteFinalJudgeFailureCount", "rewrite_final_judge_failure_count", 0),
    ("unknownStepFailureCount", "unknown_step_failure_count", 0),
]
ALIASES = [f[0] for f in FIELDS]
SNAKE = {f[0]: f[1] for f in FIELDS}

# the required fields only
REQ: Dict[str, Any] = {
    "task": "batch",
    "taskStatus": "completed",
    "transformationType": "redact",
    "entityDetectorModel": "gliner-pii",
    "entityValidatorModel": "validator-a",
    "entityAugmenterModel": "augmenter-b",
}

# every field set, none to its default: one value of every type the event has
FULL: Dict[str, Any] = {
    "nemoSource": "undefined",
    "task": "preview",
    "taskStatus": "error",
    "deploymentType": "nmp",
    "jobDurationSec": 41.25,
    "numInputRecords": 1200,
    "numSuccessRecords": 1190,
    "numFailureRecords": 10,
    "avgTokensPerRecord": 873,
    "transformationType": "rewrite",
    "customDataSummaryProvided": True,
    "customPrivacyGoalProvided": True,
    "customSubstituteInstructionsProvided": True,
    "maxRepairIterations": 3,
    "strictEntityProtection": True,
    "repairIterationsTriggered": 2,
    "entityDetectorModel": "gliner-pii",
    "entityValidatorModel": "validator-a",
    "entityAugmenterModel": "augmenter-b",
    "latentDetectorModel": "latent-c",
    "replacementGeneratorModel": "replacer-d",
    "domainClassifierModel": "domain-e",
    "dispositionAnalyzerModel": "disposition-f",
    "meaningExtractorModel": "meaning-g",
    "qaGeneratorModel": "qa-h",
    "rewriterModel": "rewriter-i",
    "evaluatorModel": "evaluator-j",
    "repairerModel": "repairer-k",
    "judgeModel": "judge-l,judge-m",
    "modelHosts": ["local", "nvidia-build"],
    "entityDetectionFailureCount": 1,
    "latentDetectionFailureCount": 2,
    "replaceMapGenerationFailureCount": 3,
    "rewritePipelineFailureCount": 4,
    "rewriteEvaluateFailureCount": 5,
    "rewriteRepairFailureCount": 6,
    "rewriteFinalJudgeFailureCount": 7,
    "unknownStepFailureCount": 8,
}


def defaults(**overrides: Any) -> Dict[str, Any]:
    """The parameters of REQ with every default filled in, in wire order."""
    out = {}
    for alias, _, default in FIELDS:
        out[alias] = REQ[alias] if default is None else default
    out.update(overrides)
    return out


def snake(event: Dict[str, Any]) -> Dict[str, Any]:
    return {SNAKE[k]: v for k, v in event.items()}


def rows(db: Path, where: str = "1") -> List[sqlite3.Row]:
    """The spool's events rows (oldest first), read like an operator would."""
    if not db.exists():
        return []
    con = sqlite3.connect(str(db), timeout=30)
    try:
        con.row_factory = sqlite3.Row
        return list(con.execute("SELECT * FROM events WHERE %s ORDER BY id" % where))
    finally:
        con.close()


def stored_params(db: Path) -> List[Dict[str, Any]]:
    """The parameters objects as stored, keys in their stored order."""
    return [json.loads(r["parameters"]) for r in rows(db)]


def run_python(code: str, env: Optional[Dict[str, str]] = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs code in a new python3 with this package importable (and the library under
    test, unless env says otherwise)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + str(Path(__file__).parent)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                          text=True, timeout=timeout)


class TestCase(unittest.TestCase):
    """A scratch directory (self.dir, mode 0700), self.db inside it, and the telemetry
    environment restored after each test."""

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="anon-py-"))
        os.chmod(self.dir, 0o700)
        self.db = self.dir / "spool.db"
        saved = {k: os.environ.get(k) for k in (
            "NEMO_TELEMETRY_ENABLED", "NEMO_DEPLOYMENT_TYPE", "NEMO_SESSION_PREFIX",
            "ANON_TELEMETRY_SPOOL")}

        def restore() -> None:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        self.addCleanup(shutil.rmtree, self.dir, True)
