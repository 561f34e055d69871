"""The native report pipeline: decoding the sealed report's wire format, validating and
redacting it against the policy, grouping it by fingerprint and weighing counts-only mode
by credential, then handing it to the writer.
"""
