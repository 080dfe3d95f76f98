package match

import (
	"strings"
)

// fixture is one record written from AWS's documented CloudTrail record
// format (userIdentity element, sign-in events, centralised root access),
// with what the rule must say about it.
type fixture struct {
	name     string
	record   string
	root     bool
	category Category
	severity Severity
	mfa      bool
	readOnly bool
}

const acct = "111122223333"

func rec(userIdentity, rest string) string {
	return `{"eventVersion":"1.08","userIdentity":` + userIdentity + `,"eventTime":"2024-05-02T10:15:30Z",` + rest +
		`,"awsRegion":"us-east-1","requestID":"8f4a6c1e-1111-2222-3333-444455556666","recipientAccountId":"` + acct + `","eventCategory":"Management","managementEvent":true}`
}

const rootUI = `{"type":"Root","principalId":"` + acct + `","arn":"arn:aws:iam::` + acct + `:root","accountId":"` + acct + `","accessKeyId":"ASIAEXAMPLEROOTKEY01","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-02T10:01:02Z","mfaAuthenticated":"false"}}}`

const rootUIMFA = `{"type":"Root","principalId":"` + acct + `","arn":"arn:aws:iam::` + acct + `:root","accountId":"` + acct + `","accessKeyId":"ASIAEXAMPLEROOTKEY02","sessionContext":{"attributes":{"creationDate":"2024-05-02T10:01:02Z","mfaAuthenticated":"true"}}}`

const signinUI = `{"type":"Root","principalId":"` + acct + `","arn":"arn:aws:iam::` + acct + `:root","accountId":"` + acct + `","accessKeyId":""}`

const assumedRootUI = `{"type":"Root","principalId":"` + acct + `","arn":"arn:aws:iam::` + acct + `:root","accountId":"` + acct + `","accessKeyId":"ASIAEXAMPLEASSUMED1","sessionContext":{"attributes":{"creationDate":"2024-11-15T20:00:00Z","mfaAuthenticated":"false"},"assumedRoot":"true"}}`

const roleUI = `{"type":"AssumedRole","principalId":"AROAEXAMPLEID:Root","arn":"arn:aws:sts::` + acct + `:assumed-role/Root/Root","accountId":"` + acct + `","accessKeyId":"ASIAEXAMPLEROLE0001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::` + acct + `:role/Root","accountId":"` + acct + `","userName":"Root"},"attributes":{"creationDate":"2024-05-02T10:01:02Z","mfaAuthenticated":"false"}}}`

const iamUserUI = `{"type":"IAMUser","principalId":"AIDAEXAMPLEUSER","arn":"arn:aws:iam::` + acct + `:user/Root","accountId":"` + acct + `","accessKeyId":"AKIAEXAMPLEUSER0001","userName":"Root"}`

func api(name, source string, readOnly bool, extra string) string {
	ro := "false"
	if readOnly {
		ro = "true"
	}
	s := `"eventSource":"` + source + `","eventName":"` + name + `","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2","eventID":"ev-` + name + `","readOnly":` + ro + `,"eventType":"AwsApiCall"`
	if extra != "" {
		s += "," + extra
	}
	return s
}

func consoleLogin(ui, result, mfa, extra string) string {
	s := `"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","sourceIPAddress":"203.0.113.10","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36","requestParameters":null,"responseElements":{"ConsoleLogin":"` + result + `"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true","MobileVersion":"No","MFAUsed":"` + mfa + `"},"eventID":"ev-login-` + result + `-` + mfa + `","readOnly":false,"eventType":"AwsConsoleSignIn"`
	if extra != "" {
		s += "," + extra
	}
	return rec(ui, s)
}

var fixtures = []fixture{
	// Positives.
	{name: "root API call", record: rec(rootUI, api("CreateBucket", "s3.amazonaws.com", false, `"requestParameters":{"bucketName":"exfil-bucket","Host":"exfil-bucket.s3.amazonaws.com"},"responseElements":null`)),
		root: true, category: CategoryMutating, severity: SeverityHigh},
	{name: "root read-only API call", record: rec(rootUI, api("ListBuckets", "s3.amazonaws.com", true, `"requestParameters":{"Host":"s3.amazonaws.com"},"responseElements":null`)),
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "root API call with MFA session", record: rec(rootUIMFA, api("PutBucketPolicy", "s3.amazonaws.com", false, `"requestParameters":{"bucketName":"b","bucketPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}},"responseElements":null`)),
		root: true, category: CategoryMutating, severity: SeverityHigh, mfa: true},
	{name: "root console sign-in without MFA", record: consoleLogin(signinUI, "Success", "No", ""),
		root: true, category: CategoryConsoleLogin, severity: SeverityCritical},
	{name: "root console sign-in with MFA", record: consoleLogin(signinUI, "Success", "Yes", ""),
		root: true, category: CategoryConsoleLogin, severity: SeverityHigh, mfa: true},
	{name: "failed root console sign-in", record: consoleLogin(signinUI, "Failure", "No", `"errorMessage":"Failed authentication"`),
		root: true, category: CategoryConsoleLoginFailed, severity: SeverityHigh},
	{name: "root access key created", record: rec(rootUI, api("CreateAccessKey", "iam.amazonaws.com", false, `"requestParameters":null,"responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLENEWKEY01","status":"Active","userName":"","createDate":"May 2, 2024 10:16:00 AM"}}`)),
		root: true, category: CategoryCredentialChange, severity: SeverityCritical},
	{name: "root MFA device deactivated", record: rec(rootUI, api("DeactivateMFADevice", "iam.amazonaws.com", false, `"requestParameters":{"serialNumber":"arn:aws:iam::111122223333:mfa/root-account-mfa-device"},"responseElements":null`)),
		root: true, category: CategoryCredentialChange, severity: SeverityCritical},
	{name: "root denied call", record: rec(rootUI, api("GetAccountSummary", "iam.amazonaws.com", true, `"errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam::111122223333:root is not authorized to perform: iam:GetAccountSummary with an explicit deny in a service control policy","requestParameters":null,"responseElements":null`)),
		root: true, category: CategoryDenied, severity: SeverityHigh, readOnly: true},
	{name: "root failed call, not denied", record: rec(rootUI, api("DeleteBucket", "s3.amazonaws.com", false, `"errorCode":"NoSuchBucket","errorMessage":"The specified bucket does not exist","requestParameters":{"bucketName":"gone"},"responseElements":null`)),
		root: true, category: CategoryMutating, severity: SeverityHigh},
	{name: "assumedRoot session", record: rec(assumedRootUI, api("DeleteLoginProfile", "iam.amazonaws.com", false, `"requestParameters":null,"responseElements":null`)),
		root: true, category: CategoryAssumedRoot, severity: SeverityHigh},
	{name: "assumedRoot read", record: rec(assumedRootUI, api("GetLoginProfile", "iam.amazonaws.com", true, `"requestParameters":null,"responseElements":null`)),
		root: true, category: CategoryAssumedRoot, severity: SeverityMedium, readOnly: true},
	{name: "invokedBy null", record: rec(strings.Replace(rootUI, `"accessKeyId"`, `"invokedBy":null,"accessKeyId"`, 1), api("ListUsers", "iam.amazonaws.com", true, `"requestParameters":null,"responseElements":null`)),
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "no eventType", record: strings.Replace(rec(rootUI, api("ListUsers", "iam.amazonaws.com", true, "")), `,"eventType":"AwsApiCall"`, "", 1),
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "no readOnly field, mutating verb", record: strings.Replace(rec(rootUI, api("StopInstances", "ec2.amazonaws.com", false, "")), `,"readOnly":false`, "", 1),
		root: true, category: CategoryMutating, severity: SeverityHigh},
	{name: "non-ASCII user agent and escapes", record: rec(rootUI, api("ListBuckets", "s3.amazonaws.com", true, `"requestParameters":{"note":"caf\u00e9 \"quoted\" 日本語 \\ \/"}`)),
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "pretty-printed", record: "{\n  \"eventVersion\" : \"1.08\",\n  \"userIdentity\" : {\n    \"type\" : \"Root\",\n    \"arn\" : \"arn:aws:iam::111122223333:root\"\n  },\n  \"eventName\" : \"ListBuckets\",\n  \"readOnly\" : true,\n  \"eventType\" : \"AwsApiCall\",\n  \"eventID\" : \"ev-pretty\"\n}",
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "type not first in userIdentity", record: rec(`{"principalId":"`+acct+`","arn":"arn:aws:iam::`+acct+`:root","type":"Root"}`, api("ListBuckets", "s3.amazonaws.com", true, "")),
		root: true, category: CategoryReadOnly, severity: SeverityMedium, readOnly: true},
	{name: "huge root record", record: rec(rootUI, api("PutObject", "s3.amazonaws.com", false, `"requestParameters":{"blob":"`+strings.Repeat("A", 300_000)+`"}`)),
		root: true, category: CategoryMutating, severity: SeverityHigh},

	// Negatives and look-alikes.
	{name: "root invokedBy support", record: rec(strings.Replace(rootUI, `"accessKeyId"`, `"invokedBy":"support.amazonaws.com","accessKeyId"`, 1), api("DescribeTrustedAdvisorChecks", "support.amazonaws.com", true, ""))},
	{name: "root invokedBy signin", record: rec(strings.Replace(signinUI, `"accessKeyId"`, `"invokedBy":"signin.amazonaws.com","accessKeyId"`, 1), api("GetSigninToken", "signin.amazonaws.com", true, ""))},
	{name: "root invokedBy empty string", record: rec(strings.Replace(rootUI, `"accessKeyId"`, `"invokedBy":"","accessKeyId"`, 1), api("ListUsers", "iam.amazonaws.com", true, ""))},
	{name: "root AwsServiceEvent", record: strings.Replace(rec(rootUI, api("SharedSnapshotVolumeCreated", "ec2.amazonaws.com", false, "")), `"eventType":"AwsApiCall"`, `"eventType":"AwsServiceEvent"`, 1)},
	{name: "no userIdentity", record: `{"eventVersion":"1.08","eventTime":"2024-05-02T10:15:30Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","requestParameters":{"type":"Root"},"eventID":"x","eventType":"AwsApiCall"}`},
	{name: "userIdentity without type", record: rec(`{"principalId":"`+acct+`","arn":"arn:aws:iam::`+acct+`:root","accountId":"`+acct+`"}`, api("ListBuckets", "s3.amazonaws.com", true, `"requestParameters":{"kind":"Root"}`))},
	{name: "userIdentity null", record: rec(`null`, api("ListBuckets", "s3.amazonaws.com", true, `"x":"Root"`))},
	{name: "userIdentity a string", record: rec(`"Root"`, api("ListBuckets", "s3.amazonaws.com", true, ""))},
	{name: "type lower-case root", record: rec(`{"type":"root","arn":"arn:aws:iam::`+acct+`:root"}`, api("ListBuckets", "s3.amazonaws.com", true, ""))},
	{name: "type an array", record: rec(`{"type":["Root"]}`, api("ListBuckets", "s3.amazonaws.com", true, ""))},
	{name: "type with spaces", record: rec(`{"type":"Root "}`, api("ListBuckets", "s3.amazonaws.com", true, ""))},
	{name: "role named Root", record: rec(roleUI, api("ListBuckets", "s3.amazonaws.com", true, `"requestParameters":{"roleName":"Root"}`))},
	{name: "IAM user named Root", record: rec(iamUserUI, api("GetUser", "iam.amazonaws.com", true, `"requestParameters":{"userName":"Root"}`))},
	{name: "request parameters type Root", record: rec(iamUserUI, api("CreatePolicy", "organizations.amazonaws.com", false, `"requestParameters":{"type":"Root","targetId":"r-ab12","userIdentity":{"type":"Root"}}`))},
	{name: "nested userIdentity", record: rec(iamUserUI, api("PutEvents", "events.amazonaws.com", false, `"requestParameters":{"entries":[{"detail":{"userIdentity":{"type":"Root"}}}]}`))},
	{name: "escaped record in a string", record: rec(iamUserUI, api("PutLogEvents", "logs.amazonaws.com", false, `"requestParameters":{"message":"{\"userIdentity\":{\"type\":\"Root\"},\"eventType\":\"AwsApiCall\"}"}`))},
	{name: "organizations ListRoots", record: rec(iamUserUI, api("ListRoots", "organizations.amazonaws.com", true, `"responseElements":{"roots":[{"id":"r-ab12","arn":"arn:aws:organizations::111122223333:root/o-exampleorgid/r-ab12","name":"Root","policyTypes":[]}]}`))},
	{name: "AWS service principal", record: rec(`{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}`, api("GetBucketAcl", "s3.amazonaws.com", true, `"requestParameters":{"bucketName":"Root"}`))},
	{name: "root ARN but IAM user type", record: rec(`{"type":"IAMUser","arn":"arn:aws:iam::`+acct+`:root","userName":"Root"}`, api("ListBuckets", "s3.amazonaws.com", true, ""))},
}
