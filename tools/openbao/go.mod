// Wrapper module: builds the OpenBao server (a Vault-compatible, MPL-licensed fork) through the Go module
// proxy. OpenBao's go.mod says github.com/openbao/openbao while releases are tagged v2.x, so v2.6.2 is
// addressed by its pseudo-version; its own replace lines point at local folders and are restated here.
module configmanager.io/tools/openbao

go 1.26.0

require github.com/openbao/openbao v0.0.0-20260818154305-dd9c19c37a87

tool github.com/openbao/openbao

replace (
	github.com/openbao/openbao/api/auth/approle/v2 => github.com/openbao/openbao/api/auth/approle/v2 v2.6.0
	github.com/openbao/openbao/api/auth/userpass/v2 => github.com/openbao/openbao/api/auth/userpass/v2 v2.6.0
	github.com/openbao/openbao/sdk/v2 => github.com/openbao/openbao/sdk/v2 v2.6.2
)
