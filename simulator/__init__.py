"""A local stand-in for Google Veo 3.1: both REST protocols (Gemini API and Vertex AI), real MP4s.

Run it with `veo-simulator` or `python -m simulator`. The project's real `gemini`
and `vertex` adapters talk to it unchanged (point `gemini_base_url`, `vertex_base_url`,
`gcs_base_url` and the service account's `token_uri` at it). Prompt directives such as
`[sim latency=2 poll-fault=500x3]` steer single jobs (see directives.py and docs/simulator.md), and
`/_sim/*` exposes counters so tests can prove nothing was submitted twice.

Modules: server (process, CLI), protocol_gemini / protocol_vertex / protocol_gcs (wire shapes),
core (shared state, and the submit and poll steps both protocols share), operations (time-based
state machine), directives, faults, validation, google_errors, responses (failed operations),
media + render (MP4s), oauth (service accounts and tokens), control (/_sim).
"""
