"""The project's plugins for LocalStack (community): what it lacks for this pipeline."""
