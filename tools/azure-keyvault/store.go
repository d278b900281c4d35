package main

// The vault's contents: secrets with versions, tags, content type and attributes, soft delete with
// recover and purge, backup and restore. It implements the operations of the Azure SDK's generated fake
// server (azsecrets/fake.Server), which parses the requests and writes the JSON shapes of the Key Vault
// REST specification; this file only decides what the answers are.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"
)

// version is one stored version of a secret.
type version struct {
	ID          string            `json:"id"`
	Value       string            `json:"value"`
	ContentType *string           `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   *time.Time        `json:"nbf,omitempty"`
	Expires     *time.Time        `json:"exp,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

// secret is a named secret: its versions in creation order; deleted is set while soft-deleted.
type secret struct {
	Name     string     `json:"name"`
	Versions []*version `json:"versions"`
	Deleted  *time.Time `json:"deleted,omitempty"`
}

func (s *secret) latest() *version { return s.Versions[len(s.Versions)-1] }

func (s *secret) find(id string) *version {
	if id == "" {
		return s.latest()
	}
	for _, v := range s.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// kvError is an answer in Key Vault's error shape: {"error": {"code", "message", "innererror"}}.
type kvError struct {
	Status  int
	Code    string
	Message string
	Inner   string
}

func (e *kvError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func fail(status int, code, format string, args ...any) azfake.ErrorResponder {
	var r azfake.ErrorResponder
	r.SetError(&kvError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)})
	return r
}

// ctxKey carries the vault's base URL (scheme://host of the request) to the store's callbacks.
type ctxKey struct{}

func baseURL(ctx context.Context) string {
	if v, ok := ctx.Value(ctxKey{}).(string); ok {
		return v
	}
	return "https://localhost"
}

// Store is the vault: safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	secrets   map[string]*secret
	pageSize  int
	base      string // the vault URL, for the ids in listings (pager callbacks get no request)
	retention time.Duration
	now       func() time.Time
}

func NewStore(base string) *Store {
	return &Store{secrets: map[string]*secret{}, pageSize: 25, base: base, retention: 90 * 24 * time.Hour, now: time.Now}
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptrTime(t time.Time) *time.Time { return &t }

func attributes(v *version) *azsecrets.SecretAttributes {
	return &azsecrets.SecretAttributes{
		Enabled: to.Ptr(v.Enabled), NotBefore: v.NotBefore, Expires: v.Expires,
		Created: ptrTime(v.Created), Updated: ptrTime(v.Updated),
		RecoverableDays: to.Ptr[int32](90), RecoveryLevel: to.Ptr("Recoverable+Purgeable"),
	}
}

func tagsOut(tags map[string]string) map[string]*string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]*string, len(tags))
	for k, v := range tags {
		out[k] = to.Ptr(v)
	}
	return out
}

func tagsIn(tags map[string]*string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func secretID(base, name, ver string) *azsecrets.ID {
	id := azsecrets.ID(fmt.Sprintf("%s/secrets/%s/%s", base, name, ver))
	return &id
}

func (st *Store) bundle(ctx context.Context, s *secret, v *version) azsecrets.Secret {
	return azsecrets.Secret{
		ID: secretID(baseURL(ctx), s.Name, v.ID), Value: to.Ptr(v.Value), ContentType: v.ContentType,
		Tags: tagsOut(v.Tags), Attributes: attributes(v),
	}
}

func (st *Store) deletedBundle(ctx context.Context, s *secret) azsecrets.DeletedSecret {
	v := s.latest()
	base := baseURL(ctx)
	return azsecrets.DeletedSecret{
		ID: secretID(base, s.Name, v.ID), ContentType: v.ContentType, Tags: tagsOut(v.Tags), Attributes: attributes(v),
		RecoveryID: to.Ptr(fmt.Sprintf("%s/deletedsecrets/%s", base, s.Name)), DeletedDate: s.Deleted,
		ScheduledPurgeDate: ptrTime(s.Deleted.Add(st.retention)),
	}
}

// live returns the secret if it exists and is not soft-deleted.
func (st *Store) live(name string) (*secret, azfake.ErrorResponder, bool) {
	s := st.secrets[name]
	if s == nil || s.Deleted != nil {
		return nil, fail(http.StatusNotFound, "SecretNotFound", "A secret with (name/id) %s was not found in this key vault.", name), false
	}
	return s, azfake.ErrorResponder{}, true
}

func (st *Store) deleted(name string) (*secret, azfake.ErrorResponder, bool) {
	s := st.secrets[name]
	if s == nil || s.Deleted == nil {
		return nil, fail(http.StatusNotFound, "SecretNotFound", "Deleted Secret not found: %s", name), false
	}
	return s, azfake.ErrorResponder{}, true
}

// Server wires the store into the SDK's fake server.
func (st *Store) Server() *fake.Server {
	return &fake.Server{
		SetSecret:                            st.setSecret,
		GetSecret:                            st.getSecret,
		UpdateSecretProperties:               st.updateSecretProperties,
		DeleteSecret:                         st.deleteSecret,
		GetDeletedSecret:                     st.getDeletedSecret,
		PurgeDeletedSecret:                   st.purgeDeletedSecret,
		RecoverDeletedSecret:                 st.recoverDeletedSecret,
		BackupSecret:                         st.backupSecret,
		RestoreSecret:                        st.restoreSecret,
		NewListSecretPropertiesPager:         st.listSecrets,
		NewListSecretPropertiesVersionsPager: st.listVersions,
		NewListDeletedSecretPropertiesPager:  st.listDeleted,
	}
}

func (st *Store) setSecret(ctx context.Context, name string, p azsecrets.SetSecretParameters, _ *azsecrets.SetSecretOptions) (azfake.Responder[azsecrets.SetSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.SetSecretResponse]
	if p.Value == nil {
		return resp, fail(http.StatusBadRequest, "BadParameter", "The parameter 'value' is required.")
	}
	if len(p.Tags) > 15 {
		return resp, fail(http.StatusBadRequest, "BadParameter", "A secret can have at most 15 tags.")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.secrets[name]
	if s != nil && s.Deleted != nil {
		return resp, fail(http.StatusConflict, "Conflict", "Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", name)
	}
	if s == nil {
		s = &secret{Name: name}
		st.secrets[name] = s
	}
	now := st.now().UTC().Truncate(time.Second)
	v := &version{ID: newVersionID(), Value: *p.Value, ContentType: p.ContentType, Tags: tagsIn(p.Tags), Enabled: true, Created: now, Updated: now}
	if a := p.SecretAttributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		v.NotBefore, v.Expires = a.NotBefore, a.Expires
	}
	s.Versions = append(s.Versions, v)
	resp.SetResponse(http.StatusOK, azsecrets.SetSecretResponse{Secret: st.bundle(ctx, s, v)}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) getSecret(ctx context.Context, name, ver string, _ *azsecrets.GetSecretOptions) (azfake.Responder[azsecrets.GetSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.GetSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.live(name)
	if !ok {
		return resp, e
	}
	v := s.find(ver)
	if v == nil {
		return resp, fail(http.StatusNotFound, "SecretNotFound", "A secret with (name/id) %s/%s was not found in this key vault.", name, ver)
	}
	if !v.Enabled {
		var r azfake.ErrorResponder
		r.SetError(&kvError{Status: http.StatusForbidden, Code: "Forbidden", Inner: "SecretDisabled", Message: "Operation get is not allowed on a disabled secret."})
		return resp, r
	}
	resp.SetResponse(http.StatusOK, azsecrets.GetSecretResponse{Secret: st.bundle(ctx, s, v)}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) updateSecretProperties(ctx context.Context, name, ver string, p azsecrets.UpdateSecretPropertiesParameters, _ *azsecrets.UpdateSecretPropertiesOptions) (azfake.Responder[azsecrets.UpdateSecretPropertiesResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.UpdateSecretPropertiesResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.live(name)
	if !ok {
		return resp, e
	}
	v := s.find(ver)
	if v == nil {
		return resp, fail(http.StatusNotFound, "SecretNotFound", "A secret with (name/id) %s/%s was not found in this key vault.", name, ver)
	}
	if p.ContentType != nil {
		v.ContentType = p.ContentType
	}
	if p.Tags != nil {
		v.Tags = tagsIn(p.Tags)
	}
	if a := p.SecretAttributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			v.NotBefore = a.NotBefore
		}
		if a.Expires != nil {
			v.Expires = a.Expires
		}
	}
	v.Updated = st.now().UTC().Truncate(time.Second)
	b := st.bundle(ctx, s, v)
	b.Value = nil // Key Vault does not return the value from an update
	resp.SetResponse(http.StatusOK, azsecrets.UpdateSecretPropertiesResponse{Secret: b}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) deleteSecret(ctx context.Context, name string, _ *azsecrets.DeleteSecretOptions) (azfake.Responder[azsecrets.DeleteSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.DeleteSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.live(name)
	if !ok {
		return resp, e
	}
	s.Deleted = ptrTime(st.now().UTC().Truncate(time.Second))
	resp.SetResponse(http.StatusOK, azsecrets.DeleteSecretResponse{DeletedSecret: st.deletedBundle(ctx, s)}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) getDeletedSecret(ctx context.Context, name string, _ *azsecrets.GetDeletedSecretOptions) (azfake.Responder[azsecrets.GetDeletedSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.GetDeletedSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.deleted(name)
	if !ok {
		return resp, e
	}
	resp.SetResponse(http.StatusOK, azsecrets.GetDeletedSecretResponse{DeletedSecret: st.deletedBundle(ctx, s)}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) purgeDeletedSecret(_ context.Context, name string, _ *azsecrets.PurgeDeletedSecretOptions) (azfake.Responder[azsecrets.PurgeDeletedSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.PurgeDeletedSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, e, ok := st.deleted(name); !ok {
		return resp, e
	}
	delete(st.secrets, name)
	resp.SetResponse(http.StatusNoContent, azsecrets.PurgeDeletedSecretResponse{}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) recoverDeletedSecret(ctx context.Context, name string, _ *azsecrets.RecoverDeletedSecretOptions) (azfake.Responder[azsecrets.RecoverDeletedSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.RecoverDeletedSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.deleted(name)
	if !ok {
		return resp, e
	}
	s.Deleted = nil
	b := st.bundle(ctx, s, s.latest())
	b.Value = nil
	resp.SetResponse(http.StatusOK, azsecrets.RecoverDeletedSecretResponse{Secret: b}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) backupSecret(_ context.Context, name string, _ *azsecrets.BackupSecretOptions) (azfake.Responder[azsecrets.BackupSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.BackupSecretResponse]
	st.mu.Lock()
	defer st.mu.Unlock()
	s, e, ok := st.live(name)
	if !ok {
		return resp, e
	}
	blob, err := json.Marshal(s)
	if err != nil {
		return resp, fail(http.StatusInternalServerError, "InternalError", "backup failed")
	}
	resp.SetResponse(http.StatusOK, azsecrets.BackupSecretResponse{BackupSecretResult: azsecrets.BackupSecretResult{Value: blob}}, nil)
	return resp, azfake.ErrorResponder{}
}

func (st *Store) restoreSecret(ctx context.Context, p azsecrets.RestoreSecretParameters, _ *azsecrets.RestoreSecretOptions) (azfake.Responder[azsecrets.RestoreSecretResponse], azfake.ErrorResponder) {
	var resp azfake.Responder[azsecrets.RestoreSecretResponse]
	var s secret
	if err := json.Unmarshal(p.SecretBackup, &s); err != nil || s.Name == "" || len(s.Versions) == 0 {
		return resp, fail(http.StatusBadRequest, "BadParameter", "The backup blob is not a secret backup of this vault.")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.secrets[s.Name] != nil {
		return resp, fail(http.StatusConflict, "Conflict", "Secret %s already exists; a backup can only be restored under a free name.", s.Name)
	}
	s.Deleted = nil
	st.secrets[s.Name] = &s
	b := st.bundle(ctx, &s, s.latest())
	b.Value = nil
	resp.SetResponse(http.StatusOK, azsecrets.RestoreSecretResponse{Secret: b}, nil)
	return resp, azfake.ErrorResponder{}
}

// names returns the secret names (sorted) that satisfy keep; the caller holds the lock.
func (st *Store) names(keep func(*secret) bool) []string {
	var out []string
	for name, s := range st.secrets {
		if keep(s) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// pages splits n items into page-sized chunks (at least one, possibly empty, page).
func pages(n, size int) [][2]int {
	if size <= 0 {
		size = 25
	}
	var out [][2]int
	for start := 0; start < n; start += size {
		end := min(start+size, n)
		out = append(out, [2]int{start, end})
	}
	if len(out) == 0 {
		out = append(out, [2]int{0, 0})
	}
	return out
}

func (st *Store) properties(base string, s *secret) *azsecrets.SecretProperties {
	v := s.latest()
	id := azsecrets.ID(fmt.Sprintf("%s/secrets/%s", base, s.Name))
	return &azsecrets.SecretProperties{ID: &id, ContentType: v.ContentType, Tags: tagsOut(v.Tags), Attributes: attributes(v)}
}

func (st *Store) listSecrets(_ *azsecrets.ListSecretPropertiesOptions) azfake.PagerResponder[azsecrets.ListSecretPropertiesResponse] {
	st.mu.Lock()
	defer st.mu.Unlock()
	names := st.names(func(s *secret) bool { return s.Deleted == nil })
	var r azfake.PagerResponder[azsecrets.ListSecretPropertiesResponse]
	for _, span := range pages(len(names), st.pageSize) {
		page := azsecrets.SecretPropertiesListResult{Value: []*azsecrets.SecretProperties{}}
		for _, name := range names[span[0]:span[1]] {
			page.Value = append(page.Value, st.properties(st.base, st.secrets[name]))
		}
		r.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesResponse{SecretPropertiesListResult: page}, nil)
	}
	return r
}

func (st *Store) listVersions(name string, _ *azsecrets.ListSecretPropertiesVersionsOptions) azfake.PagerResponder[azsecrets.ListSecretPropertiesVersionsResponse] {
	st.mu.Lock()
	defer st.mu.Unlock()
	var r azfake.PagerResponder[azsecrets.ListSecretPropertiesVersionsResponse]
	s := st.secrets[name]
	if s == nil || s.Deleted != nil {
		r.AddError(&kvError{Status: http.StatusNotFound, Code: "SecretNotFound", Message: fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", name)})
		return r
	}
	for _, span := range pages(len(s.Versions), st.pageSize) {
		page := azsecrets.SecretPropertiesListResult{Value: []*azsecrets.SecretProperties{}}
		for _, v := range s.Versions[span[0]:span[1]] {
			id := azsecrets.ID(fmt.Sprintf("%s/secrets/%s/%s", st.base, s.Name, v.ID))
			page.Value = append(page.Value, &azsecrets.SecretProperties{ID: &id, ContentType: v.ContentType, Tags: tagsOut(v.Tags), Attributes: attributes(v)})
		}
		r.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesVersionsResponse{SecretPropertiesListResult: page}, nil)
	}
	return r
}

func (st *Store) listDeleted(_ *azsecrets.ListDeletedSecretPropertiesOptions) azfake.PagerResponder[azsecrets.ListDeletedSecretPropertiesResponse] {
	st.mu.Lock()
	defer st.mu.Unlock()
	names := st.names(func(s *secret) bool { return s.Deleted != nil })
	var r azfake.PagerResponder[azsecrets.ListDeletedSecretPropertiesResponse]
	for _, span := range pages(len(names), st.pageSize) {
		page := azsecrets.DeletedSecretPropertiesListResult{Value: []*azsecrets.DeletedSecretProperties{}}
		for _, name := range names[span[0]:span[1]] {
			s := st.secrets[name]
			v := s.latest()
			id := azsecrets.ID(fmt.Sprintf("%s/secrets/%s", st.base, s.Name))
			page.Value = append(page.Value, &azsecrets.DeletedSecretProperties{
				ID: &id, ContentType: v.ContentType, Tags: tagsOut(v.Tags), Attributes: attributes(v),
				RecoveryID: to.Ptr(fmt.Sprintf("%s/deletedsecrets/%s", st.base, s.Name)), DeletedDate: s.Deleted,
				ScheduledPurgeDate: ptrTime(s.Deleted.Add(st.retention)),
			})
		}
		r.AddPage(http.StatusOK, azsecrets.ListDeletedSecretPropertiesResponse{DeletedSecretPropertiesListResult: page}, nil)
	}
	return r
}

// SetPageSize changes the page size of listings (Azure's default is 25).
func (st *Store) SetPageSize(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pageSize = n
}

// Reset empties the vault.
func (st *Store) Reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.secrets = map[string]*secret{}
}
