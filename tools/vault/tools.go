//go:build tools

// Package tools pins the Vault server as a dependency of this wrapper module.
package tools

import _ "github.com/hashicorp/vault"
