"""SSRF-safe outbound URLs: user-supplied `imageUrl` and `webhookUrl` may only reach the internet.

`addresses.check_url` resolves the host once and refuses it if any address is not public
(loopback, private, link-local, multicast, reserved, cloud metadata, or those hidden inside IPv6
forms), and refuses the stack's own services (`services`) whatever the allow list says; it
returns the checked addresses. `fetch.fetch_limited` (user images) and
`post.PinnedPoster` (webhooks) then connect to a checked address themselves (`pinned`), never
resolving the name again, so a DNS answer that changes between check and connect (DNS rebinding)
cannot redirect them. The original name still goes out as the Host header and, for https, as the
TLS SNI name that the certificate is verified against. Every redirect hop of a fetch is checked
the same way; a POST follows none. No proxy from the environment is used: a proxy would resolve
the name.

Failures raise `shared.errors.UnsafeUrl` (the guard refused) or `FetchFailed` (the answer was
unusable), which name no field: each caller maps them to its own report.
"""
