package main

// The identity side: an Azure AD-like token endpoint (client secret and federated client assertion, the
// flows of azure-identity's ClientSecretCredential, ClientAssertionCredential and
// WorkloadIdentityCredential), the tenant's OpenID discovery document that MSAL reads first, an App
// Service-style managed-identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER), and the check of the
// access tokens the vault endpoints receive (signature, audience, tenant, expiry), so a wrong credential
// fails the way Azure fails.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// VaultResource is the audience of Key Vault access tokens.
const VaultResource = "https://vault.azure.net"

// AssertionType is the client_assertion_type of a JWT client assertion (RFC 7523).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Federated is a federated identity credential of an application: tokens of Issuer for Subject with one
// of Audiences, verified with the issuer's keys (JWKS).
type Federated struct {
	Issuer    string             `json:"issuer"`
	Subject   string             `json:"subject"`
	Audiences []string           `json:"audiences"`
	JWKS      jose.JSONWebKeySet `json:"jwks"`
}

// Principal is an application (service principal) or a managed identity, and what it may do in the vault.
type Principal struct {
	ClientID    string      `json:"clientId"`
	Secret      string      `json:"secret,omitempty"`
	Federated   []Federated `json:"federated,omitempty"`
	Managed     bool        `json:"managed,omitempty"`
	Permissions []string    `json:"permissions,omitempty"` // get, list, set, delete, recover, purge, backup, restore; empty: all
}

func (p *Principal) may(permission string) bool {
	if len(p.Permissions) == 0 {
		return true
	}
	for _, allowed := range p.Permissions {
		if allowed == permission {
			return true
		}
	}
	return false
}

// Identity issues and checks tokens for one tenant.
type Identity struct {
	mu             sync.Mutex
	tenant         string
	identityHeader string
	key            *ecdsa.PrivateKey
	keyID          string
	lifetime       time.Duration
	principals     map[string]*Principal
	now            func() time.Time
}

func NewIdentity(tenant, identityHeader string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Identity{
		tenant: tenant, identityHeader: identityHeader, key: key, keyID: newVersionID()[:16],
		lifetime: time.Hour, principals: map[string]*Principal{}, now: time.Now,
	}, nil
}

// AddPrincipal registers (or replaces) an application or managed identity.
func (id *Identity) AddPrincipal(p Principal) error {
	if p.ClientID == "" {
		return errors.New("clientId is required")
	}
	if !p.Managed && p.Secret == "" && len(p.Federated) == 0 {
		return errors.New("an application needs a secret or a federated credential")
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	id.principals[p.ClientID] = &p
	return nil
}

func (id *Identity) SetLifetime(d time.Duration) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.lifetime = d
}

func (id *Identity) principal(clientID string) *Principal {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.principals[clientID]
}

// accessClaims are the claims of the access tokens issued here (a subset of Azure AD's v1 tokens).
type accessClaims struct {
	jwt.Claims
	TenantID string `json:"tid"`
	AppID    string `json:"appid"`
}

func (id *Identity) issuer(base string) string { return fmt.Sprintf("%s/%s/", base, id.tenant) }

func (id *Identity) issue(base, clientID, resource string) (string, int, error) {
	id.mu.Lock()
	lifetime := id.lifetime
	id.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: id.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", id.keyID))
	if err != nil {
		return "", 0, err
	}
	now := id.now()
	claims := accessClaims{
		Claims: jwt.Claims{
			Issuer: id.issuer(base), Subject: clientID, Audience: jwt.Audience{resource},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry: jwt.NewNumericDate(now.Add(lifetime)), ID: newVersionID(),
		},
		TenantID: id.tenant, AppID: clientID,
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	return token, int(lifetime.Seconds()), err
}

// Check validates a bearer token for the vault and returns its principal, or the reason it is refused
// (worded like Key Vault's AKV100xx messages).
func (id *Identity) Check(authorization string) (*Principal, string) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || raw == "" {
		return nil, "AKV10000: Request is missing a Bearer or PoP token."
	}
	token, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, "AKV10022: Invalid token: not a JWT."
	}
	var claims accessClaims
	if err := token.Claims(&id.key.PublicKey, &claims); err != nil {
		return nil, "AKV10032: Invalid issuer or signature."
	}
	if !audienceIsVault(claims.Audience) {
		return nil, fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", VaultResource, strings.Join(claims.Audience, ","))
	}
	if claims.TenantID != id.tenant {
		return nil, fmt.Sprintf("AKV10032: Invalid issuer. Expected tenant %s, found: %s.", id.tenant, claims.TenantID)
	}
	if err := claims.Claims.ValidateWithLeeway(jwt.Expected{Time: id.now()}, 0); err != nil {
		return nil, "AKV10021: Token expired or not yet valid."
	}
	p := id.principal(claims.AppID)
	if p == nil {
		return nil, "AKV10032: The principal of the token is not known to this tenant."
	}
	return p, ""
}

func audienceIsVault(aud jwt.Audience) bool {
	for _, a := range aud {
		if strings.TrimSuffix(a, "/") == VaultResource {
			return true
		}
	}
	return false
}

// aadError writes an OAuth2 error in Azure AD's shape.
func aadError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": code, "error_description": description, "error_codes": []int{}, "timestamp": time.Now().UTC().Format(time.RFC3339),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// resourceOf turns a scope ("https://vault.azure.net/.default") into its resource.
func resourceOf(scopes string) string {
	for _, scope := range strings.Fields(scopes) {
		if r, ok := strings.CutSuffix(scope, "/.default"); ok {
			return r
		}
	}
	return ""
}

// Discovery serves the tenant's OpenID configuration (MSAL's tenant discovery).
func (id *Identity) Discovery(w http.ResponseWriter, base, tenant string) {
	if tenant != id.tenant {
		aadError(w, http.StatusBadRequest, "invalid_tenant", fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant))
		return
	}
	root := fmt.Sprintf("%s/%s", base, tenant)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": root + "/v2.0", "token_endpoint": root + "/oauth2/v2.0/token",
		"authorization_endpoint": root + "/oauth2/v2.0/authorize", "jwks_uri": root + "/discovery/v2.0/keys",
		"response_types_supported": []string{"code", "id_token", "token"}, "subject_types_supported": []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"}, "tenant_region_scope": "WW",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt"},
	})
}

// Keys serves the public key that signs the access tokens.
func (id *Identity) Keys(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &id.key.PublicKey, KeyID: id.keyID, Algorithm: "ES256", Use: "sig"}}})
}

// Token is the OAuth2 token endpoint: client_credentials with a client secret or a client assertion.
func (id *Identity) Token(w http.ResponseWriter, r *http.Request, base, tenant string) {
	if r.Method != http.MethodPost {
		aadError(w, http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	if tenant != id.tenant {
		aadError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
		return
	}
	form := r.PostForm
	if form.Get("grant_type") != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: Only client_credentials is served here.")
		return
	}
	resource := resourceOf(form.Get("scope"))
	if resource == "" {
		aadError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The scope must end with /.default.")
		return
	}
	p := id.principal(form.Get("client_id"))
	if p == nil || p.Managed {
		aadError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", form.Get("client_id")))
		return
	}
	switch {
	case form.Get("client_secret") != "":
		if p.Secret == "" || subtle.ConstantTimeCompare([]byte(p.Secret), []byte(form.Get("client_secret"))) != 1 {
			aadError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
			return
		}
	case form.Get("client_assertion") != "":
		if form.Get("client_assertion_type") != AssertionType {
			aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS700024: client_assertion_type must be jwt-bearer.")
			return
		}
		if reason := id.checkAssertion(p, form.Get("client_assertion")); reason != "" {
			aadError(w, http.StatusUnauthorized, "invalid_client", reason)
			return
		}
	default:
		aadError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain client_secret or client_assertion.")
		return
	}
	id.respond(w, base, p.ClientID, resource, false)
}

// checkAssertion verifies a federated client assertion (a Kubernetes ServiceAccount token) against the
// application's federated credentials.
func (id *Identity) checkAssertion(p *Principal, raw string) string {
	token, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.RS384, jose.ES384, jose.RS512, jose.PS256})
	if err != nil {
		return "AADSTS50027: The client assertion is not a valid JWT."
	}
	var claims jwt.Claims
	if err := token.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return "AADSTS50027: The client assertion has unreadable claims."
	}
	for _, fed := range p.Federated {
		if claims.Issuer != fed.Issuer || claims.Subject != fed.Subject {
			continue
		}
		var verified jwt.Claims
		ok := false
		for _, key := range fed.JWKS.Keys {
			if len(token.Headers) > 0 && token.Headers[0].KeyID != "" && key.KeyID != "" && key.KeyID != token.Headers[0].KeyID {
				continue
			}
			if token.Claims(key.Key, &verified) == nil {
				ok = true
				break
			}
		}
		if !ok {
			return "AADSTS700027: The client assertion's signature does not match a key of its issuer."
		}
		audiences := fed.Audiences
		if len(audiences) == 0 {
			audiences = []string{"api://AzureADTokenExchange"}
		}
		if err := verified.ValidateWithLeeway(jwt.Expected{AnyAudience: audiences, Time: id.now()}, 0); err != nil {
			return fmt.Sprintf("AADSTS700024: The client assertion is not valid for this exchange (%v).", err)
		}
		return ""
	}
	return fmt.Sprintf("AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.", claims.Issuer, claims.Subject)
}

func (id *Identity) respond(w http.ResponseWriter, base, clientID, resource string, managed bool) {
	token, seconds, err := id.issue(base, clientID, resource)
	if err != nil {
		aadError(w, http.StatusInternalServerError, "server_error", "could not sign a token")
		return
	}
	body := map[string]any{"token_type": "Bearer", "expires_in": seconds, "ext_expires_in": seconds, "access_token": token}
	if managed {
		body["expires_on"] = fmt.Sprint(id.now().Unix() + int64(seconds))
		body["resource"] = resource
		body["client_id"] = clientID
	}
	writeJSON(w, http.StatusOK, body)
}

// SystemIdentity is the client id of the system-assigned managed identity.
const SystemIdentity = "system-assigned"

// ManagedIdentity answers GET ?api-version&resource[&client_id] in two styles: App Service
// (IDENTITY_ENDPOINT, with the X-IDENTITY-HEADER secret) and the instance metadata service that AKS nodes
// and VMs have (/metadata/identity/oauth2/token, with "Metadata: true"; azure-identity reaches it here
// through AZURE_POD_IDENTITY_AUTHORITY_HOST).
func (id *Identity) ManagedIdentity(w http.ResponseWriter, r *http.Request, base string, imds bool) {
	if imds && r.Header.Get("Metadata") != "true" {
		aadError(w, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	if !imds && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(id.identityHeader)) != 1 {
		aadError(w, http.StatusUnauthorized, "invalid_request", "The X-IDENTITY-HEADER header is missing or wrong.")
		return
	}
	q := r.URL.Query()
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if resource == "" {
		aadError(w, http.StatusBadRequest, "invalid_request", "The resource parameter is required.")
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		clientID = SystemIdentity
	}
	p := id.principal(clientID)
	if p == nil || !p.Managed {
		aadError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("No managed identity with client_id '%s' is assigned to this host.", url.QueryEscape(clientID)))
		return
	}
	id.respond(w, base, clientID, resource, true)
}
