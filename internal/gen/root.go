package gen

import (
	"strings"
	"time"
)

// rootAPIs are calls the root user makes. Credential changes, sign-ins and
// assumed-root sessions are written by rootRecord around these.
var rootAPIs = []*api{
	{source: "iam.amazonaws.com", name: "GetAccountSummary", readOnly: true, global: true},
	{source: "iam.amazonaws.com", name: "ListUsers", readOnly: true, global: true,
		req: func(g *fileGen) { g.int("maxItems", 100) }},
	{source: "iam.amazonaws.com", name: "GetAccountPasswordPolicy", readOnly: true, global: true},
	{source: "s3.amazonaws.com", name: "ListBuckets", readOnly: true, s3ID: true,
		req: func(g *fileGen) { g.s("Host", "s3."+g.region+".amazonaws.com") }, extra: s3Extra},
	{source: "ec2.amazonaws.com", name: "DescribeRegions", readOnly: true,
		req: func(g *fileGen) {
			g.obj("regionSet")
			g.close()
			g.bool("allRegions", true)
		}},
	apis[0], // DescribeInstances
	{source: "iam.amazonaws.com", name: "AttachUserPolicy", global: true,
		req: func(g *fileGen) {
			g.s("userName", g.pick(userNames))
			g.s("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")
		}},
	{source: "iam.amazonaws.com", name: "UpdateAccountPasswordPolicy", global: true,
		req: func(g *fileGen) {
			g.int("minimumPasswordLength", 14)
			g.bool("requireSymbols", true)
			g.bool("requireNumbers", true)
			g.int("maxPasswordAge", 90)
			g.int("passwordReusePrevention", 24)
		}},
	{source: "s3.amazonaws.com", name: "PutBucketPolicy", s3ID: true,
		req: func(g *fileGen) {
			b := bucketName(g)
			g.s("bucketName", b)
			g.s("Host", b+".s3."+g.region+".amazonaws.com")
			g.s("bucketPolicy", `{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::`+b+`/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)
			g.s("policy", "")
		}, extra: s3Extra},
	{source: "ec2.amazonaws.com", name: "AuthorizeSecurityGroupIngress",
		req: func(g *fileGen) {
			g.s("groupId", "sg-0"+g.rs(lowhex, 16))
			g.obj("ipPermissions")
			g.arr("items")
			g.obj("")
			g.s("ipProtocol", "tcp")
			g.int("fromPort", 22)
			g.int("toPort", 22)
			g.obj("ipRanges")
			g.arr("items")
			g.obj("")
			g.s("cidrIp", "0.0.0.0/0")
			g.close()
			g.cls()
			g.close()
			g.close()
			g.cls()
			g.close()
		},
		resp: func(g *fileGen) {
			g.s("requestId", g.uuid())
			g.bool("_return", true)
		}},
}

var rootRegional = func() []*api {
	var r []*api
	for _, a := range rootAPIs {
		if !a.global {
			r = append(r, a)
		}
	}
	return r
}()

// rootCredAPIs change root's own credentials.
var rootCredAPIs = []*api{
	{source: "iam.amazonaws.com", name: "CreateAccessKey", global: true,
		resp: func(g *fileGen) {
			g.obj("accessKey")
			g.s("accessKeyId", "AKIA"+g.rs(upalnum, 16))
			g.s("status", "Active")
			g.s("createDate", "Jan 5, 2026, 10:12:44 AM")
			g.close()
		}},
	{source: "iam.amazonaws.com", name: "DeleteAccessKey", global: true,
		req: func(g *fileGen) { g.s("accessKeyId", g.acct.rootKey) }},
	{source: "iam.amazonaws.com", name: "UpdateAccessKey", global: true,
		req: func(g *fileGen) {
			g.s("accessKeyId", g.acct.rootKey)
			g.s("status", "Inactive")
		}},
	{source: "iam.amazonaws.com", name: "CreateVirtualMFADevice", global: true,
		req: func(g *fileGen) {
			g.s("virtualMFADeviceName", "root-account-mfa-device")
			g.s("path", "/")
		},
		resp: func(g *fileGen) {
			g.obj("virtualMFADevice")
			g.s("serialNumber", g.acct.mfaID)
			g.close()
		}},
	{source: "iam.amazonaws.com", name: "EnableMFADevice", global: true,
		req: func(g *fileGen) { g.s("serialNumber", g.acct.mfaID) }},
	{source: "iam.amazonaws.com", name: "DeactivateMFADevice", global: true,
		req: func(g *fileGen) { g.s("serialNumber", g.acct.mfaID) }},
	{source: "iam.amazonaws.com", name: "UploadSigningCertificate", global: true,
		req: func(g *fileGen) {
			g.s("certificateBody", "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE"+g.rs(alnum, 120)+"\n-----END CERTIFICATE-----")
		},
		resp: func(g *fileGen) {
			g.obj("certificate")
			g.s("certificateId", g.rs(upalnum, 32))
			g.s("status", "Active")
			g.close()
		}},
}

// The calls of centralised-root sessions (sts:AssumeRoot), by the task
// policy that allows them.
var (
	listAccessKeys     = &api{source: "iam.amazonaws.com", name: "ListAccessKeys", readOnly: true, global: true}
	getLoginProfile    = &api{source: "iam.amazonaws.com", name: "GetLoginProfile", readOnly: true, global: true}
	listMFADevices     = &api{source: "iam.amazonaws.com", name: "ListMFADevices", readOnly: true, global: true}
	deleteLoginProfile = &api{source: "iam.amazonaws.com", name: "DeleteLoginProfile", global: true}
	createLoginProfile = &api{source: "iam.amazonaws.com", name: "CreateLoginProfile", global: true,
		resp: func(g *fileGen) {
			g.obj("loginProfile")
			g.s("createDate", "Jan 5, 2026, 10:12:44 AM")
			g.bool("passwordResetRequired", true)
			g.close()
		}}
	deleteBucketPolicy = &api{source: "s3.amazonaws.com", name: "DeleteBucketPolicy", s3ID: true,
		req: func(g *fileGen) {
			b := bucketName(g)
			g.s("bucketName", b)
			g.s("Host", b+".s3."+g.region+".amazonaws.com")
			g.s("policy", "")
		}, extra: s3Extra}
	setQueueAttributes = &api{source: "sqs.amazonaws.com", name: "SetQueueAttributes",
		req: func(g *fileGen) {
			g.s("queueUrl", "https://sqs."+g.region+".amazonaws.com/"+g.acct.id+"/orders-events")
			g.obj("attributes")
			g.s("Policy", "")
			g.close()
		}}
)

// taskPolicies are AWS's root-task policies and the calls each allows.
var taskPolicies = []*taskPolicy{
	{name: "IAMAuditRootUserCredentials", apis: []*api{listAccessKeys, getLoginProfile, listMFADevices}},
	{name: "IAMCreateRootUserPassword", apis: []*api{getLoginProfile, createLoginProfile}},
	{name: "IAMDeleteRootUserCredentials", apis: []*api{listAccessKeys, deleteLoginProfile, rootCredAPIs[1]}}, // DeleteAccessKey
	{name: "S3UnlockBucketPolicy", apis: []*api{deleteBucketPolicy}, regional: true},
	{name: "SQSUnlockQueuePolicy", apis: []*api{setQueueAttributes}, regional: true},
}

// regionalTaskPolicies are the task policies whose calls are made in any region.
var regionalTaskPolicies = func() []*taskPolicy {
	var r []*taskPolicy
	for _, p := range taskPolicies {
		if p.regional {
			r = append(r, p)
		}
	}
	return r
}()

func (g *fileGen) rootUA(console bool, source string) string {
	if console {
		return g.pick(uaBrowser)
	}
	return g.sdkUA(strings.TrimSuffix(source, ".amazonaws.com"))
}

// rootRecord writes one record of true root activity and records it. k
// (0-99, drawn by the file's plan, which keeps sign-ins and credential
// changes to us-east-1 and sessions to member accounts) says which kind.
func (g *fileGen) rootRecord(k int) {
	var e ev
	sessionKey := ""
	switch {
	case k < 20: // console sign-in, success or failure
		e = ev{source: "signin.amazonaws.com", name: "ConsoleLogin", eventType: "AwsConsoleSignIn",
			ip: g.ip(), ua: g.pick(uaBrowser), tlsHost: "signin.aws.amazon.com", region: "us-east-1",
			ident: g.identRoot(rootSignIn, "")}
		failed := g.chance(0.35)
		mfa := !failed && g.chance(0.7)
		if failed {
			e.errMsg = "Failed authentication"
			e.resp = func(g *fileGen) { g.s("ConsoleLogin", "Failure") }
		} else {
			e.resp = func(g *fileGen) { g.s("ConsoleLogin", "Success") }
		}
		e.extra = func(g *fileGen) {
			g.s("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"+g.rs(lowhex, 16))
			g.s("MobileVersion", "No")
			if mfa {
				g.s("MFAIdentifier", g.acct.mfaID)
				g.s("MFAUsed", "Yes")
			} else {
				g.s("MFAUsed", "No")
			}
		}
	case k < 25: // root password changed in the console
		e = ev{source: "signin.amazonaws.com", name: "PasswordUpdated", eventType: "AwsConsoleSignIn",
			ip: g.ip(), ua: g.pick(uaBrowser), tlsHost: "signin.aws.amazon.com", region: "us-east-1",
			ident: g.identRoot(rootSignIn, "")}
		e.resp = func(g *fileGen) { g.s("PasswordUpdated", "Success") }
	case k < 45: // root credential changes
		a := rootCredAPIs[g.r.IntN(len(rootCredAPIs))]
		e = a.ev(g)
		console := g.chance(0.6)
		if console {
			e.ident = g.identRoot(rootConsole, "")
		} else {
			e.ident = g.identRoot(rootKey, "")
		}
		e.ip, e.ua, e.console = g.ip(), g.rootUA(console, a.source), console
	case isSessionAction(k): // an action of this account's centralised-root (sts:AssumeRoot) session
		e = g.sessionAction()
		sessionKey = g.mySession().key
	case k < 80: // denied by an SCP
		a := g.pickAPI(rootAPIs, rootRegional)
		e = a.ev(g)
		e.ident = g.identRoot(rootKey, "")
		e.ip, e.ua = g.ip(), g.sdkUA(a.source)
		e.errCode = "AccessDenied"
		e.errMsg = "User: arn:aws:iam::" + g.acct.id + ":root is not authorized to perform: " + a.name + " with an explicit deny in a service control policy"
	default: // root API calls, read-only and mutating
		a := g.pickAPI(rootAPIs, rootRegional)
		e = a.ev(g)
		sess, inv := rootKey, ""
		if g.chance(0.5) {
			sess = rootConsole
			e.console = true
		}
		if g.chance(0.05) {
			inv = "null" // explicit null counts as absent
		}
		e.ident = g.identRoot(sess, inv)
		e.ip, e.ua = g.ip(), g.rootUA(e.console, a.source)
	}
	id := g.write(&e)
	g.file.roots = append(g.file.roots, RootEvent{EventID: id, Key: g.file.key, Category: category(&e, sessionKey != ""), Session: sessionKey})
}

// lookalike writes a record that has "Root" in it, or is by the root user,
// but is not root activity by the rule.
func (g *fileGen) lookalike() {
	k := g.r.IntN(10)
	global := g.region == "us-east-1"
	if !global && (k == 3 || k == 5 || k == 8) {
		k = 0
	}
	var e ev
	switch k {
	case 0: // a role named "Root"
		a := g.pickAPI(apis, regional)
		e = a.ev(g)
		ro := principal{name: "Root", id: "AROA" + g.rs(upalnum, 17)}
		e.ident = g.identRole(ro, "admin-session", "", true)
		e.ip, e.ua = g.ip(), g.sdkUA(a.source)
	case 1: // root user, but invoked by a service on its behalf
		a := g.pickAPI(rootAPIs, rootRegional)
		e = a.ev(g)
		inv := [...]string{"support.amazonaws.com", "AWS Internal", "cloudformation.amazonaws.com"}[g.r.IntN(3)]
		e.ident = g.identRoot(rootConsole, inv)
		e.ip, e.ua = inv, inv
		e.tlsHost = ""
	case 2: // "type":"Root" nested in request parameters, by an IAM user
		u := g.acct.users[g.r.IntN(len(g.acct.users))]
		e = ev{source: "access-analyzer.amazonaws.com", name: "CreateArchiveRule", eventType: "AwsApiCall",
			reqID: g.uuid(), tlsHost: g.host("access-analyzer.amazonaws.com"), ident: g.identIAMUser(u, false),
			ip: g.ip(), ua: g.sdkUA("accessanalyzer")}
		e.req = func(g *fileGen) {
			g.s("analyzerName", "org-analyzer")
			g.s("ruleName", "archive-root-principal")
			g.obj("filter")
			g.obj("principal")
			g.s("type", "Root")
			g.s("accountId", g.acct.id)
			g.close()
			g.obj("userIdentity")
			g.s("type", "Root")
			g.close()
			g.close()
		}
	case 3: // Organizations: the organisation root is named "Root"
		ro := g.acct.roles[0]
		e = ev{source: "organizations.amazonaws.com", name: "ListRoots", readOnly: true, eventType: "AwsApiCall",
			region: "us-east-1", reqID: g.uuid(), tlsHost: "organizations.us-east-1.amazonaws.com",
			ident: g.identRole(ro, "alice@example.com", "", true), ip: g.ip(), ua: g.pick(uaBrowser), console: true}
		rid := "r-" + g.rs(lowan, 4)
		e.resp = func(g *fileGen) {
			g.arr("roots")
			g.obj("")
			g.s("id", rid)
			g.s("arn", "arn:aws:organizations::"+g.w.mgmt.id+":root/o-"+g.rs(lowan, 10)+"/"+rid)
			g.s("name", "Root")
			g.arr("policyTypes")
			g.obj("")
			g.s("type", "SERVICE_CONTROL_POLICY")
			g.s("status", "ENABLED")
			g.close()
			g.cls()
			g.close()
			g.cls()
		}
		if g.chance(0.5) {
			e.name, e.readOnly, e.resp = "CreateOrganizationalUnit", false, nil
			e.req = func(g *fileGen) {
				g.s("parentId", rid)
				g.s("name", "Root")
			}
		}
	case 4: // escaped JSON that mentions Root: an EventBridge rule watching for root
		ro := g.acct.roles[5]
		e = ev{source: "events.amazonaws.com", name: "PutRule", eventType: "AwsApiCall", reqID: g.uuid(),
			tlsHost: g.host("events.amazonaws.com"), ident: g.identRole(ro, "gha-run-"+g.rs(lowhex, 8), "", false),
			ip: g.ip(), ua: g.sdkUA("eventbridge")}
		e.req = func(g *fileGen) {
			g.s("name", "detect-root-activity")
			g.s("eventPattern", `{"detail-type":["AWS API Call via CloudTrail","AWS Console Sign In via CloudTrail"],"detail":{"userIdentity":{"type":["Root"]},"eventType":[{"anything-but":"AwsServiceEvent"}]}}`)
			g.s("state", "ENABLED")
		}
		e.resp = func(g *fileGen) {
			g.s("ruleArn", "arn:aws:events:"+g.region+":"+g.acct.id+":rule/detect-root-activity")
		}
		switch g.r.IntN(3) {
		case 1: // testing the pattern against a sample root event, passed as a string
			e.name, e.readOnly = "TestEventPattern", true
			e.req = func(g *fileGen) {
				g.s("eventPattern", `{"detail":{"userIdentity":{"type":["Root"]}}}`)
				g.s("event", `{"id":"`+g.uuid()+`","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"`+g.acct.id+`","detail":{"userIdentity":{"type":"Root","principalId":"`+g.acct.id+`","arn":"arn:aws:iam::`+g.acct.id+`:root"},"eventType":"AwsApiCall","eventName":"CreateAccessKey"}}`)
			}
			e.resp = func(g *fileGen) { g.bool("result", true) }
		case 2: // the CIS metric filter, as a CloudWatch Logs filter pattern
			e.source, e.name, e.tlsHost = "logs.amazonaws.com", "PutMetricFilter", g.host("logs.amazonaws.com")
			e.resp = nil
			e.req = func(g *fileGen) {
				g.s("logGroupName", "aws-cloudtrail-logs-"+g.acct.id)
				g.s("filterName", "RootAccountUsage")
				g.s("filterPattern", `{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }`)
				g.arr("metricTransformations")
				g.obj("")
				g.s("metricName", "RootAccountUsageCount")
				g.s("metricNamespace", "CISBenchmark")
				g.s("metricValue", "1")
				g.close()
				g.cls()
			}
		}
	case 5: // root's own service events: password recovery
		e = ev{source: "signin.amazonaws.com", name: "PasswordRecoveryRequested", eventType: "AwsServiceEvent",
			region: "us-east-1", ip: g.ip(), ua: g.pick(uaBrowser), reqID: "",
			ident: g.identRoot(rootPrincipal, "")}
		e.svc = func(g *fileGen) { g.s("PasswordRecoveryRequested", "Success") }
	case 6: // a federated user whose session was issued by root credentials
		u := g.acct.users[g.r.IntN(len(g.acct.users))]
		a := g.pickAPI(apis, regional)
		e = a.ev(g)
		e.ident = g.identFederated(u, true)
		e.ip, e.ua = g.ip(), g.pick(uaBrowser)
	case 7: // AssumeRoot named where it is not an sts:AssumeRoot call (those open sessions: session.go)
		if global && g.chance(0.5) {
			// a policy that allows sts:AssumeRoot, created by Terraform
			ro := g.acct.roles[5]
			e = ev{source: "iam.amazonaws.com", name: "CreatePolicy", eventType: "AwsApiCall", region: "us-east-1",
				reqID: g.uuid(), tlsHost: "iam.amazonaws.com", ident: g.identRole(ro, "terraform", "", false),
				ip: g.ip(), ua: g.sdkUA("iam")}
			e.req = func(g *fileGen) {
				g.s("policyName", "AssumeRoot-for-member-accounts")
				g.s("policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoot","Resource":"*","Condition":{"StringEquals":{"sts:TaskPolicyArn":"arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}}}]}`)
			}
			break
		}
		// sts:AssumeRole of a role named AssumeRoot, with a session named so too
		ro := g.acct.roles[3]
		e = ev{source: "sts.amazonaws.com", name: "AssumeRole", eventType: "AwsApiCall", readOnly: true,
			reqID: g.uuid(), tlsHost: g.host("sts.amazonaws.com"), ident: g.identRole(ro, "orders-"+g.rs(lowhex, 8), "", false),
			ip: g.ip(), ua: g.sdkUA("sts")}
		role := g.arn("iam", "role/AssumeRoot")
		e.req = func(g *fileGen) {
			g.s("roleArn", role)
			g.s("roleSessionName", "AssumeRoot")
			g.int("durationSeconds", 900)
		}
		e.resp = func(g *fileGen) {
			g.obj("credentials")
			g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
			g.s("sessionToken", "IQoJb3JpZ2luX2VjE"+g.rs(alnum, 200))
			g.s("expiration", g.t.Add(15*time.Minute).Format("Jan 2, 2006, 3:04:05 PM"))
			g.close()
			g.obj("assumedRoleUser")
			g.s("assumedRoleId", "AROA"+g.rs(upalnum, 17)+":AssumeRoot")
			g.s("arn", "arn:aws:sts::"+g.acct.id+":assumed-role/AssumeRoot/AssumeRoot")
			g.close()
		}
	case 8: // an SCP denying root, as a policy document string
		ro := g.acct.roles[0]
		e = ev{source: "organizations.amazonaws.com", name: "CreatePolicy", eventType: "AwsApiCall",
			region: "us-east-1", reqID: g.uuid(), tlsHost: "organizations.us-east-1.amazonaws.com",
			ident: g.identRole(ro, "terraform", "", false), ip: g.ip(), ua: g.sdkUA("organizations")}
		e.req = func(g *fileGen) {
			g.s("content", `{"Version":"2012-10-17","Statement":[{"Sid":"DenyRootUser","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalArn":["arn:aws:iam::*:root"]}}}]}`)
			g.s("description", "Deny all actions by the Root user")
			g.s("name", "deny-root")
			g.s("type", "SERVICE_CONTROL_POLICY")
		}
	default: // a service event whose details mention a root identity
		e = ev{source: "health.amazonaws.com", name: "AWSHealthEvent", eventType: "AwsServiceEvent",
			ip: "health.amazonaws.com", ua: "health.amazonaws.com",
			ident: func(g *fileGen) {
				g.s("accountId", g.acct.id)
				g.s("invokedBy", "health.amazonaws.com")
			}}
		e.svc = func(g *fileGen) {
			g.s("eventTypeCode", "AWS_IAM_ROOT_CREDENTIALS_EXPOSED")
			g.obj("userIdentity")
			g.s("type", "Root")
			g.s("arn", g.arn("iam", "root"))
			g.close()
		}
	}
	g.write(&e)
}
