// A Key Vault test server of ours: Azure Key Vault's secrets REST API on loopback HTTPS, built on the
// Azure SDK for Go's generated fake server (azsecrets/fake), with token endpoints so azure-identity's
// real credential code runs against it. See main.go.
module config-manager/tools/azure-keyvault

go 1.26

require (
	github.com/Azure/azure-sdk-for-go/sdk/azcore v1.23.3
	github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets v1.5.1
	github.com/go-jose/go-jose/v4 v4.1.9
)

require (
	github.com/Azure/azure-sdk-for-go/sdk/internal v1.13.0 // indirect
	github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/internal v1.2.0 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
