"""The commands of ``flightpipe <command>``, one module each (see ``flightpipe.cli``)."""
