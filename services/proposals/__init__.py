"""Proposals service: where local governments and private city developers submit their plans."""
