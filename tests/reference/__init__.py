"""Reference packages the tests compare the project with (pinned in this directory's *.txt)."""
