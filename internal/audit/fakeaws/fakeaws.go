// Package fakeaws is an in-process stand-in for the three AWS APIs the
// audit calls, speaking their real wire protocols so the real SDK clients
// can be pointed at it in tests: IAM and STS over the AWS query protocol
// (form-encoded POST, Action and Version, XML responses in the documented
// <XxxResponse><XxxResult> shape, <ErrorResponse> errors), Organizations
// over JSON 1.1 (X-Amz-Target: AWSOrganizationsV20161128.<Op>). Every
// request must carry a SigV4 Authorization header whose credential scope
// names the right service; the access key in it says which account the
// caller is in.
package fakeaws

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account is one fake account.
type Account struct {
	ID    string
	Name  string
	State string // ACTIVE (default), SUSPENDED, ...
	// Report is the credential report CSV.
	Report string
	// PollsBeforeComplete is how many GenerateCredentialReport calls answer
	// STARTED / INPROGRESS before COMPLETE.
	PollsBeforeComplete int
	// DenyAssume makes AssumeRole into this account fail with AccessDenied.
	DenyAssume bool
	// IAMDenied makes this account's IAM calls fail with AccessDenied.
	IAMDenied bool

	generated int
}

// Call is one request the server answered.
type Call struct {
	Service, Action, AccessKey string
	Form                       url.Values
	JSON                       map[string]any
}

// Server is the fake endpoint.
type Server struct {
	*httptest.Server
	t *testing.T

	mu sync.Mutex
	// CallerKey is the access key of the caller (management account).
	CallerKey     string
	CallerAccount string
	// ExternalID, when set, must match AssumeRole's ExternalId.
	ExternalID string
	// OrgDenied makes ListAccounts fail with AccessDeniedException.
	OrgDenied bool
	// PageSize is the ListAccounts page size (default 2, to exercise paging).
	PageSize    int
	accounts    map[string]*Account
	order       []string
	keyAccount  map[string]string
	calls       []Call
	GeneratedAt time.Time
}

// New starts a server whose caller is in account caller (with access key
// AKIDCALLER<caller>); add accounts with Add.
func New(t *testing.T, caller string) *Server {
	s := &Server{t: t, CallerAccount: caller, CallerKey: "AKIDCALLER" + caller, PageSize: 2,
		accounts: map[string]*Account{}, keyAccount: map[string]string{}, GeneratedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.keyAccount[s.CallerKey] = caller
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Add registers an account.
func (s *Server) Add(a *Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.State == "" {
		a.State = "ACTIVE"
	}
	s.accounts[a.ID] = a
	s.order = append(s.order, a.ID)
}

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

var authRe = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.fail(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || r.Header.Get("X-Amz-Date") == "" {
		s.fail(w, "request without a SigV4 Authorization header / X-Amz-Date")
		return
	}
	key, service := m[1], m[4]
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Context().Err() != nil {
		// The client gave up mid-request (a test's deadline): not a
		// protocol violation, and nobody reads the answer.
		http.Error(w, "request abandoned", http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if service != "organizations" {
			s.fail(w, "JSON request signed for %q", service)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			s.fail(w, "organizations Content-Type %q", ct)
			return
		}
		s.serveOrg(w, key, target, body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.fail(w, "query Content-Type %q", ct)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.fail(w, "bad form body: %v", err)
		return
	}
	switch service {
	case "iam":
		if form.Get("Version") != "2010-05-08" {
			s.fail(w, "iam Version %q", form.Get("Version"))
			return
		}
		s.serveIAM(w, key, form)
	case "sts":
		if form.Get("Version") != "2011-06-15" {
			s.fail(w, "sts Version %q", form.Get("Version"))
			return
		}
		s.serveSTS(w, key, form)
	default:
		s.fail(w, "query request signed for unknown service %q", service)
	}
}

// fail records a protocol violation as a test error and answers 400.
func (s *Server) fail(w http.ResponseWriter, format string, args ...any) {
	s.t.Errorf("fakeaws: "+format, args...)
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func xmlEscape(v string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(v))
	return b.String()
}

func queryError(w http.ResponseWriter, ns string, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s">
  <Error>
    <Type>Sender</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>4f1e3a52-0000-4000-8000-000000000001</RequestId>
</ErrorResponse>`, ns, code, xmlEscape(msg))
}

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func (s *Server) serveIAM(w http.ResponseWriter, key string, form url.Values) {
	action := form.Get("Action")
	s.record(Call{Service: "iam", Action: action, AccessKey: key, Form: form})
	s.mu.Lock()
	acct := s.accounts[s.keyAccount[key]]
	s.mu.Unlock()
	if acct == nil {
		queryError(w, iamNS, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if acct.IAMDenied {
		queryError(w, iamNS, 403, "AccessDenied", fmt.Sprintf("User is not authorized to perform: iam:%s", action))
		return
	}
	switch action {
	case "GenerateCredentialReport":
		s.mu.Lock()
		n := acct.generated
		acct.generated++
		s.mu.Unlock()
		state, desc := "COMPLETE", ""
		switch {
		case n < acct.PollsBeforeComplete && n == 0:
			state, desc = "STARTED", "No report exists. Starting a new report generation task"
		case n < acct.PollsBeforeComplete:
			state = "INPROGRESS"
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GenerateCredentialReportResponse xmlns="%s">
  <GenerateCredentialReportResult>
    <Description>%s</Description>
    <State>%s</State>
  </GenerateCredentialReportResult>
  <ResponseMetadata>
    <RequestId>29f47818-99f5-11e1-a4c3-27EXAMPLE804</RequestId>
  </ResponseMetadata>
</GenerateCredentialReportResponse>`, iamNS, desc, state)
	case "GetCredentialReport":
		s.mu.Lock()
		ready := acct.generated > acct.PollsBeforeComplete
		s.mu.Unlock()
		if !ready {
			queryError(w, iamNS, 404, "ReportInProgress", "Credential report is being generated.")
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCredentialReportResponse xmlns="%s">
  <GetCredentialReportResult>
    <Content>%s</Content>
    <ReportFormat>text/csv</ReportFormat>
    <GeneratedTime>%s</GeneratedTime>
  </GetCredentialReportResult>
  <ResponseMetadata>
    <RequestId>29f47818-99f5-11e1-a4c3-27EXAMPLE804</RequestId>
  </ResponseMetadata>
</GetCredentialReportResponse>`, iamNS, base64.StdEncoding.EncodeToString([]byte(acct.Report)), s.GeneratedAt.Format(time.RFC3339))
	default:
		s.fail(w, "unexpected IAM action %q", action)
	}
}

var roleARN = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(.+)$`)

func (s *Server) serveSTS(w http.ResponseWriter, key string, form url.Values) {
	action := form.Get("Action")
	s.record(Call{Service: "sts", Action: action, AccessKey: key, Form: form})
	if key != s.CallerKey {
		queryError(w, stsNS, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	switch action {
	case "GetCallerIdentity":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="%s">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::%s:user/auditor</Arn>
    <UserId>AIDACKCEVSQ6C2EXAMPLE</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`, stsNS, s.CallerAccount, s.CallerAccount)
	case "AssumeRole":
		m := roleARN.FindStringSubmatch(form.Get("RoleArn"))
		if m == nil || form.Get("RoleSessionName") == "" {
			queryError(w, stsNS, 400, "ValidationError", "invalid RoleArn or RoleSessionName")
			return
		}
		s.mu.Lock()
		acct := s.accounts[m[1]]
		ext := s.ExternalID
		s.mu.Unlock()
		if acct == nil || acct.DenyAssume || (ext != "" && form.Get("ExternalId") != ext) {
			queryError(w, stsNS, 403, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/auditor is not authorized to perform: sts:AssumeRole on resource: %s", s.CallerAccount, form.Get("RoleArn")))
			return
		}
		ak := "ASIA" + acct.ID
		s.mu.Lock()
		s.keyAccount[ak] = acct.ID
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="%s">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>fakeSecretFor%s</SecretAccessKey>
      <SessionToken>fakeSessionToken%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`, stsNS, acct.ID, xmlEscape(m[2]), xmlEscape(form.Get("RoleSessionName")), xmlEscape(form.Get("RoleSessionName")),
			ak, acct.ID, acct.ID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	default:
		s.fail(w, "unexpected STS action %q", action)
	}
}

func (s *Server) serveOrg(w http.ResponseWriter, key, target string, body []byte) {
	op, ok := strings.CutPrefix(target, "AWSOrganizationsV20161128.")
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		s.fail(w, "organizations body is not JSON: %v", err)
		return
	}
	s.record(Call{Service: "organizations", Action: op, AccessKey: key, JSON: in})
	jsonErr := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", "7b1c4a9e-0000-4000-8000-000000000002")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	if !ok || op != "ListAccounts" {
		s.fail(w, "unexpected Organizations target %q", target)
		return
	}
	s.mu.Lock()
	denied := s.OrgDenied
	s.mu.Unlock()
	if key != s.CallerKey || denied {
		jsonErr(400, "AccessDeniedException", "You don't have permissions to access this resource.")
		return
	}
	s.mu.Lock()
	ids := append([]string(nil), s.order...)
	s.mu.Unlock()
	sort.Strings(ids)
	start := 0
	if tok, _ := in["NextToken"].(string); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || n <= 0 || n >= len(ids) {
			jsonErr(400, "InvalidInputException", "NextToken is invalid")
			return
		}
		start = n
	}
	end := min(start+s.PageSize, len(ids))
	type acctJSON struct {
		Arn, Email, Id, JoinedMethod string
		JoinedTimestamp              float64
		Name, Status, State          string
	}
	out := struct {
		Accounts  []acctJSON
		NextToken string `json:",omitempty"`
	}{Accounts: []acctJSON{}}
	s.mu.Lock()
	for _, id := range ids[start:end] {
		a := s.accounts[id]
		status := a.State
		if status != "ACTIVE" {
			status = "SUSPENDED"
		}
		out.Accounts = append(out.Accounts, acctJSON{
			Arn:   fmt.Sprintf("arn:aws:organizations::%s:account/o-exampleorgid/%s", s.CallerAccount, id),
			Email: "root+" + id + "@example.com", Id: id, JoinedMethod: "CREATED",
			JoinedTimestamp: 1.5e9, Name: a.Name, Status: status, State: a.State})
	}
	s.mu.Unlock()
	if end < len(ids) {
		out.NextToken = "page-" + strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", "7b1c4a9e-0000-4000-8000-000000000003")
	json.NewEncoder(w).Encode(out)
}
