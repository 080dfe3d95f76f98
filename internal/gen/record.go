package gen

import (
	"strings"
	"time"

	"rootwatch/internal/match"
)

// ev is one record to write. The fields follow the order AWS writes them.
type ev struct {
	version    string
	ident      func(g *fileGen) // writes the members of userIdentity; nil: no userIdentity
	source     string
	name       string
	region     string // "" is the file's region
	ip, ua     string
	errCode    string
	errMsg     string
	req, resp  func(g *fileGen) // write the members of the object; nil: null
	extra      func(g *fileGen) // members of additionalEventData; nil: none
	reqID      string           // "" for none
	readOnly   bool
	resources  func(g *fileGen) // elements of resources; nil: none
	eventType  string
	shared     bool
	svc        func(g *fileGen) // members of serviceEventDetails
	tlsHost    string
	console    bool // sessionCredentialFromConsole
	vpce       bool
	apiVersion string
	at         time.Time // the eventTime; zero: a random time in the file's span
}

var uaSDK = []string{
	"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79-99.167.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#",
	"Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
	"aws-sdk-go-v2/1.26.1 ua/2.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/",
	"APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 ua/2.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/",
	"aws-sdk-java/2.25.16 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
}

var uaBrowser = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.92",
}

var versions = []string{"1.08", "1.08", "1.09", "1.10", "1.11"}

func (g *fileGen) sdkUA(svc string) string { return withService(g.pick(uaSDK), svc) }

// withService completes an SDK user agent from uaSDK with the service it
// called, where that SDK names it.
func withService(ua, svc string) string {
	svc = strings.TrimSuffix(svc, ".amazonaws.com")
	if strings.HasSuffix(ua, "#") || strings.HasSuffix(ua, "api/") {
		return ua + svc
	}
	return ua
}

// write appends one record and returns its eventID.
func (g *fileGen) write(e *ev) string {
	if g.t = e.at; g.t.IsZero() {
		g.t = g.from.Add(time.Duration(g.r.Int64N(int64(g.span))))
		g.t = g.t.Truncate(time.Second)
	}
	if f := g.file; f.oldest.IsZero() || g.t.Before(f.oldest) {
		f.oldest = g.t
	}
	if f := g.file; g.t.After(f.newest) {
		f.newest = g.t
	}
	g.obj("")
	if e.version == "" {
		e.version = g.pick(versions)
	}
	g.s("eventVersion", e.version)
	if e.ident != nil {
		g.obj("userIdentity")
		e.ident(g)
		g.close()
	}
	g.time("eventTime", g.t)
	g.s("eventSource", e.source)
	g.s("eventName", e.name)
	region := e.region
	if region == "" {
		region = g.region
	}
	g.s("awsRegion", region)
	g.s("sourceIPAddress", e.ip)
	g.s("userAgent", e.ua)
	if e.errCode != "" {
		g.s("errorCode", e.errCode)
		g.s("errorMessage", e.errMsg)
	} else if e.errMsg != "" {
		g.s("errorMessage", e.errMsg)
	}
	if e.req != nil {
		g.obj("requestParameters")
		e.req(g)
		g.close()
	} else {
		g.null("requestParameters")
	}
	if e.resp != nil && e.errCode == "" {
		g.obj("responseElements")
		e.resp(g)
		g.close()
	} else {
		g.null("responseElements")
	}
	if e.extra != nil {
		g.obj("additionalEventData")
		e.extra(g)
		g.close()
	}
	if e.reqID != "" {
		g.s("requestID", e.reqID)
	}
	id := g.uuid()
	g.s("eventID", id)
	g.bool("readOnly", e.readOnly)
	if e.resources != nil {
		g.arr("resources")
		e.resources(g)
		g.cls()
	}
	g.s("eventType", e.eventType)
	if e.apiVersion != "" {
		g.s("apiVersion", e.apiVersion)
	}
	g.bool("managementEvent", true)
	g.s("recipientAccountId", g.acct.id)
	if e.shared {
		g.s("sharedEventID", g.uuid())
	}
	if e.vpce {
		g.s("vpcEndpointId", "vpce-"+g.rs(lowhex, 8))
	}
	if e.svc != nil {
		g.obj("serviceEventDetails")
		e.svc(g)
		g.close()
	}
	g.s("eventCategory", "Management")
	if e.tlsHost != "" {
		g.obj("tlsDetails")
		if g.chance(0.7) {
			g.s("tlsVersion", "TLSv1.3")
			g.s("cipherSuite", "TLS_AES_128_GCM_SHA256")
		} else {
			g.s("tlsVersion", "TLSv1.2")
			g.s("cipherSuite", "ECDHE-RSA-AES128-GCM-SHA256")
		}
		g.s("clientProvidedHostHeader", e.tlsHost)
		g.close()
	}
	if e.console {
		g.s("sessionCredentialFromConsole", "true")
	}
	g.close()
	g.trim()
	return id
}

func (g *fileGen) host(source string) string {
	svc := strings.TrimSuffix(source, ".amazonaws.com")
	switch svc {
	case "iam", "organizations", "cloudfront", "route53":
		return svc + ".amazonaws.com"
	case "signin":
		return "signin.aws.amazon.com"
	case "s3":
		return "s3." + g.region + ".amazonaws.com"
	}
	return svc + "." + g.region + ".amazonaws.com"
}

func (g *fileGen) s3ReqID() string { return g.rs(upalnum[:26]+"0123456789", 16) }

// record writes one record: true root activity, a look-alike, or ordinary
// traffic, as the file's plan says (by the configured shares).
func (g *fileGen) record(kind recKind, k int) {
	switch kind {
	case recRoot:
		g.rootRecord(k)
	case recLookalike:
		g.lookalike()
		g.file.lookalikes++
	default:
		g.background()
	}
}

// ---- identities ----

func sessionAttrs(g *fileGen, created time.Time, mfa bool) {
	g.obj("attributes")
	g.time("creationDate", created)
	if mfa {
		g.s("mfaAuthenticated", "true")
	} else {
		g.s("mfaAuthenticated", "false")
	}
	g.close()
}

func (g *fileGen) identIAMUser(u principal, temp bool) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "IAMUser")
		g.s("principalId", u.id)
		g.s("arn", g.arn("iam", "user/"+u.name))
		g.s("accountId", g.acct.id)
		if temp {
			g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
		} else {
			g.s("accessKeyId", u.key)
		}
		g.s("userName", u.name)
		if temp {
			g.obj("sessionContext")
			g.obj("sessionIssuer")
			g.close()
			g.obj("webIdFederationData")
			g.close()
			sessionAttrs(g, g.t.Add(-time.Duration(g.r.IntN(3600))*time.Second), g.chance(0.6))
			g.close()
		}
	}
}

func (g *fileGen) identRole(ro principal, session, invokedBy string, mfa bool) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "AssumedRole")
		g.s("principalId", ro.id+":"+session)
		g.s("arn", "arn:aws:sts::"+g.acct.id+":assumed-role/"+ro.name+"/"+session)
		g.s("accountId", g.acct.id)
		g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
		g.obj("sessionContext")
		g.obj("sessionIssuer")
		g.s("type", "Role")
		g.s("principalId", ro.id)
		path := "role/"
		if strings.HasPrefix(ro.name, "AWSReservedSSO_") {
			path = "role/aws-reserved/sso.amazonaws.com/"
		}
		g.s("arn", g.arn("iam", path+ro.name))
		g.s("accountId", g.acct.id)
		g.s("userName", ro.name)
		g.close()
		g.obj("webIdFederationData")
		g.close()
		sessionAttrs(g, g.t.Add(-time.Duration(g.r.IntN(3600))*time.Second), mfa)
		if g.chance(0.2) {
			g.s("sourceIdentity", g.pick(g.acct.ssoUsers))
		}
		g.close()
		if invokedBy != "" {
			g.s("invokedBy", invokedBy)
		}
	}
}

func (g *fileGen) identService(invokedBy string) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "AWSService")
		g.s("invokedBy", invokedBy)
	}
}

func (g *fileGen) identFederated(u principal, issuerRoot bool) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "FederatedUser")
		g.s("principalId", g.acct.id+":"+u.name)
		g.s("arn", "arn:aws:sts::"+g.acct.id+":federated-user/"+u.name)
		g.s("accountId", g.acct.id)
		g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
		g.obj("sessionContext")
		g.obj("sessionIssuer")
		if issuerRoot {
			// GetFederationToken called with root credentials.
			g.s("type", "Root")
			g.s("principalId", g.acct.id)
			g.s("arn", g.arn("iam", "root"))
			g.s("accountId", g.acct.id)
		} else {
			g.s("type", "IAMUser")
			g.s("principalId", u.id)
			g.s("arn", g.arn("iam", "user/"+u.name))
			g.s("accountId", g.acct.id)
			g.s("userName", u.name)
		}
		g.close()
		g.obj("webIdFederationData")
		g.close()
		sessionAttrs(g, g.t.Add(-time.Duration(g.r.IntN(3600))*time.Second), false)
		g.close()
	}
}

func (g *fileGen) identAWSAccount(other, invokedBy string) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "AWSAccount")
		g.s("principalId", "AIDA"+g.rs(upalnum, 17))
		g.s("accountId", other)
		if invokedBy != "" {
			g.s("invokedBy", invokedBy)
		}
	}
}

// rootSession says how the root user authenticated.
type rootSession int

const (
	rootKey       rootSession = iota // long-term access key, no sessionContext
	rootConsole                      // console session credentials
	rootSignIn                       // console sign-in events: accessKeyId ""
	rootPrincipal                    // just the principal, as in root service events
)

// identRoot writes a Root identity. invokedBy: "" absent, "null" a JSON
// null, anything else the service that acted on root's behalf.
func (g *fileGen) identRoot(sess rootSession, invokedBy string) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "Root")
		g.s("principalId", g.acct.id)
		g.s("arn", g.arn("iam", "root"))
		g.s("accountId", g.acct.id)
		switch sess {
		case rootKey:
			g.s("accessKeyId", g.acct.rootKey)
		case rootSignIn:
			g.s("accessKeyId", "")
		case rootConsole:
			g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
			g.obj("sessionContext")
			g.obj("sessionIssuer")
			g.close()
			g.obj("webIdFederationData")
			g.close()
			sessionAttrs(g, g.t.Add(-time.Duration(g.r.IntN(1800))*time.Second), g.chance(0.8))
			g.close()
		}
		switch invokedBy {
		case "":
		case "null":
			g.null("invokedBy")
		default:
			g.s("invokedBy", invokedBy)
		}
	}
}

// ---- resources ----

func resource(g *fileGen, typ, arn string) {
	g.obj("")
	g.s("accountId", g.acct.id)
	g.s("type", typ)
	g.s("ARN", arn)
	g.close()
}

// ---- categorising root records, by the precedence internal/match applies ----

var credentialEvents = map[string]bool{
	"CreateAccessKey": true, "DeleteAccessKey": true, "UpdateAccessKey": true,
	"CreateLoginProfile": true, "UpdateLoginProfile": true, "DeleteLoginProfile": true,
	"ChangePassword": true, "PasswordUpdated": true,
	"CreateVirtualMFADevice": true, "DeleteVirtualMFADevice": true, "EnableMFADevice": true,
	"DeactivateMFADevice": true, "ResyncMFADevice": true,
	"UploadSigningCertificate": true, "UpdateSigningCertificate": true, "DeleteSigningCertificate": true,
}

func category(e *ev, assumed bool) match.Category {
	switch {
	case e.name == "ConsoleLogin" && e.errMsg == "":
		return match.CategoryConsoleLogin
	case e.name == "ConsoleLogin":
		return match.CategoryConsoleLoginFailed
	case assumed:
		return match.CategoryAssumedRoot
	case credentialEvents[e.name] && e.errCode == "":
		return match.CategoryCredentialChange
	case e.errCode != "":
		return match.CategoryDenied
	case !e.readOnly:
		return match.CategoryMutating
	}
	return match.CategoryReadOnly
}
