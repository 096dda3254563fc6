"""The hotline's test lab, kept out of the product wheel: a local Asterisk 22 + SIPp sandbox
(a Debian-sid chroot; root and mmdebstrap needed), scripted SIPp callers and agent phones, the
`Lab` that drives them with the real engine, and the demo. It imports `ivr`; `ivr` never
imports it.
"""
