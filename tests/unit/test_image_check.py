"""How ``flightpipe compose check-image`` reads its probe job's output and reports it."""

from __future__ import annotations

from flightpipe.stack.image_check import FIXES, STEPS, Report, parse_probe_output

OUTPUT = """\
26/12/05 15:00:01 WARN NativeCodeLoader: Unable to load native-hadoop library
FACT spark: 3.5.4
FACT fs.s3.impl (as the job runs): org.apache.hadoop.fs.s3a.S3AFileSystem
PROBE catalog PASS: 3 rows read from the catalog table, 3 expected
PROBE connection PASS: postgresql at jdbc:postgresql://postgres:5432/flightpipe
PROBE s3 FAIL: Py4JJavaError: java.nio.file.AccessDeniedException: s3://b/x: 403
"""


def test_the_probes_lines_become_facts_and_verdicts_and_a_missing_step_is_not_run():
    report = Report("glue:5")
    parse_probe_output(OUTPUT, report)
    assert dict(report.facts)["spark"] == "3.5.4"
    assert report.verdicts["catalog"] == (True, "3 rows read from the catalog table, 3 expected")
    assert report.verdicts["s3"][0] is False
    assert "jdbc" not in report.verdicts
    assert not report.passed
    text = "\n".join(report.lines())
    assert "s3         FAIL" in text and FIXES["s3"] in text
    assert "jdbc       NOT RUN" in text and FIXES["jdbc"] in text
    assert FIXES["catalog"] not in text
    assert text.endswith("# verdict: FAILED")


def test_every_step_passing_is_a_pass():
    report = Report("glue:5")
    parse_probe_output("\n".join(f"PROBE {step} PASS: ok" for step in STEPS), report)
    assert report.passed
    assert report.lines()[-1] == "# verdict: the image works with the stack"
