// Command azure-keyvault serves Azure Key Vault's secrets REST API on loopback HTTPS for the tests:
// the Azure SDK for Go's generated fake server (azsecrets/fake: routing details, request parsing and the
// JSON shapes of the Key Vault REST specification) behind our own listener, store, token endpoints and
// fault knobs. It is a test server, not Azure: see docs/providers/azure.md for what it does not model.
//
//	azure-keyvault -state-dir DIR [-addr 127.0.0.1:0] [-tenant ID] [-host NAME]...
//
// It writes DIR/ca.pem (the CA that signed its certificate) and then DIR/ready.json:
//
//	{"vault_url", "authority_host", "tenant_id", "identity_endpoint", "identity_header", "admin_token", "ca_file", "pid"}
//
// Endpoints on the one HTTPS port:
//
//	/secrets..., /deletedsecrets...           the vault (bearer token checked: signature, audience, tenant, expiry)
//	/{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/oauth2/v2.0/token, /{tenant}/discovery/v2.0/keys
//	/msi/token                                managed identity, App Service style (X-IDENTITY-HEADER)
//	/metadata/identity/oauth2/token           managed identity, instance metadata style ("Metadata: true")
//	/_admin/...                               test control (X-Admin-Token): principals, faults, settings, counters
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type hosts []string

func (h *hosts) String() string     { return strings.Join(*h, ",") }
func (h *hosts) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	stateDir := flag.String("state-dir", "", "folder for ca.pem and ready.json (required)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	tenant := flag.String("tenant", "00000000-0000-0000-0000-00000000c0de", "the tenant (directory) id")
	var extra hosts
	flag.Var(&extra, "host", "another name or address for the certificate (repeatable)")
	flag.Parse()
	if *stateDir == "" {
		log.Fatal("azure-keyvault: -state-dir is required")
	}
	if err := run(*stateDir, *addr, *tenant, extra); err != nil {
		log.Fatalf("azure-keyvault: %v", err)
	}
}

func run(stateDir, addr, tenant string, extra []string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(listener.Addr().String())
	cert, caPEM, err := certificate(append([]string{host, "localhost", "127.0.0.1", "::1"}, extra...))
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	caFile := filepath.Join(stateDir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return err
	}
	base := fmt.Sprintf("https://%s", net.JoinHostPort(host, port))
	identityHeader, adminToken := newVersionID(), newVersionID()
	identity, err := NewIdentity(tenant, identityHeader)
	if err != nil {
		return err
	}
	store, faults := NewStore(base), NewFaults()
	vault := NewVault(store, identity, faults, base)
	// The identity endpoints live under /{tenant}/...; everything else is matched by prefix first, so a
	// tenant can never shadow the vault's paths.
	tenants := http.NewServeMux()
	tenants.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		identity.Discovery(w, base, r.PathValue("tenant"))
	})
	tenants.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) { identity.Keys(w) })
	tenants.HandleFunc("/{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if faults.take("Token").apply(w, r) {
			return
		}
		identity.Token(w, r, base, r.PathValue("tenant"))
	})
	admin := &Admin{token: adminToken, store: store, identity: identity, faults: faults}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/_admin/"):
			admin.ServeHTTP(w, r)
		case p == "/msi/token" || p == "/metadata/identity/oauth2/token":
			if faults.take("ManagedIdentity").apply(w, r) {
				return
			}
			identity.ManagedIdentity(w, r, base, p != "/msi/token")
		case p == "/secrets" || p == "/deletedsecrets" || strings.HasPrefix(p, "/secrets/") ||
			strings.HasPrefix(p, "/deletedsecrets/") || strings.HasPrefix(p, "/_page/"):
			vault.ServeHTTP(w, r)
		default:
			tenants.ServeHTTP(w, r)
		}
	})

	ready := map[string]any{
		"vault_url": base, "authority_host": base, "tenant_id": tenant, "identity_endpoint": base + "/msi/token",
		"identity_header": identityHeader, "admin_token": adminToken, "ca_file": caFile, "pid": os.Getpid(),
	}
	blob, _ := json.MarshalIndent(ready, "", "  ")
	tmp := filepath.Join(stateDir, "ready.json.tmp")
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		return err
	}
	server := &http.Server{
		Handler: logged(mux), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- server.ServeTLS(listener, "", "") }()
	if err := os.Rename(tmp, filepath.Join(stateDir, "ready.json")); err != nil {
		return err
	}
	log.Printf("azure-keyvault: serving %s (tenant %s)", base, tenant)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-done:
		return err
	case <-stop:
		return server.Close()
	}
}

// logged logs one line per request: method, path (never a body, a token or a query value) and status.
func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		started := time.Now()
		next.ServeHTTP(rec, r)
		log.Printf("%s %s -> %d (%s)", r.Method, r.URL.Path, rec.status, time.Since(started).Round(time.Millisecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// certificate makes a throw-away CA and a serving certificate for names signed by it.
func certificate(names []string) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "config-manager azure-keyvault test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else if n != "" {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, caPEM, nil
}
