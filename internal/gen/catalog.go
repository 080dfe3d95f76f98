package gen

import (
	"strconv"
)

// api is one kind of API call, with realistic request and response shapes.
type api struct {
	source, name string
	readOnly     bool
	global       bool // IAM, sign-in, Organizations: only in us-east-1 files
	s3ID         bool // S3-style request ids
	req, resp    func(g *fileGen)
	res          func(g *fileGen)
	extra        func(g *fileGen)
}

func (a *api) ev(g *fileGen) ev {
	e := ev{source: a.source, name: a.name, readOnly: a.readOnly, req: a.req, resp: a.resp,
		resources: a.res, extra: a.extra, eventType: "AwsApiCall", tlsHost: g.host(a.source)}
	if a.global {
		e.region = "us-east-1"
	}
	if a.s3ID {
		e.reqID = g.s3ReqID()
	} else {
		e.reqID = g.uuid()
	}
	return e
}

func bucketName(g *fileGen) string {
	return [...]string{"prod-orders-data", "terraform-state", "cloudtrail-archive", "web-assets", "athena-results", "backups-daily"}[g.r.IntN(6)] + "-" + g.acct.id
}

func instanceID(g *fileGen) string { return "i-0" + g.rs(lowhex, 16) }

func s3Extra(g *fileGen) {
	g.s("SignatureVersion", "SigV4")
	g.s("CipherSuite", "TLS_AES_128_GCM_SHA256")
	g.int("bytesTransferredIn", 0)
	g.s("AuthenticationMethod", "AuthHeader")
	g.s("x-amz-id-2", g.rs(alnum, 56)+"=")
	g.int("bytesTransferredOut", int64(200+g.r.IntN(2000)))
}

// apis is the ordinary traffic: what users, roles and tools call all day.
var apis = []*api{
	{source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true,
		req: func(g *fileGen) {
			g.obj("instancesSet")
			g.close()
			g.obj("filterSet")
			g.arr("items")
			g.obj("")
			g.s("name", "instance-state-name")
			g.obj("valueSet")
			g.arr("items")
			g.obj("")
			g.s("value", "running")
			g.close()
			g.cls()
			g.close()
			g.close()
			g.obj("")
			g.s("name", "tag:Environment")
			g.obj("valueSet")
			g.arr("items")
			g.obj("")
			g.s("value", "production")
			g.close()
			g.cls()
			g.close()
			g.close()
			g.cls()
			g.close()
		}},
	{source: "ec2.amazonaws.com", name: "DescribeSecurityGroups", readOnly: true,
		req: func(g *fileGen) {
			g.obj("securityGroupSet")
			g.arr("items")
			g.obj("")
			g.s("groupId", "sg-0"+g.rs(lowhex, 16))
			g.close()
			g.cls()
			g.close()
			g.obj("securityGroupIdSet")
			g.close()
			g.obj("filterSet")
			g.close()
		}},
	{source: "ec2.amazonaws.com", name: "CreateTags",
		req: func(g *fileGen) {
			g.obj("resourcesSet")
			g.arr("items")
			g.obj("")
			g.s("resourceId", instanceID(g))
			g.close()
			g.cls()
			g.close()
			g.obj("tagSet")
			g.arr("items")
			g.obj("")
			g.s("key", "Owner")
			g.s("value", "team-payments")
			g.close()
			g.obj("")
			g.s("key", "CostCenter")
			g.s("value", strconv.Itoa(1000+g.r.IntN(9000)))
			g.close()
			g.cls()
			g.close()
		},
		resp: func(g *fileGen) {
			g.s("requestId", g.uuid())
			g.bool("_return", true)
		}},
	{source: "ec2.amazonaws.com", name: "RunInstances",
		req: func(g *fileGen) {
			g.obj("instancesSet")
			g.arr("items")
			g.obj("")
			g.s("imageId", "ami-0"+g.rs(lowhex, 16))
			g.int("minCount", 1)
			g.int("maxCount", 1)
			g.close()
			g.cls()
			g.close()
			g.s("instanceType", [...]string{"t3.micro", "m6i.large", "c7g.xlarge"}[g.r.IntN(3)])
			g.obj("blockDeviceMapping")
			g.close()
			g.obj("monitoring")
			g.bool("enabled", false)
			g.close()
			g.bool("disableApiTermination", false)
			g.obj("clientToken")
			g.close()
			g.obj("iamInstanceProfile")
			g.s("name", "eks-node-group-ng-1")
			g.close()
		},
		resp: func(g *fileGen) {
			g.s("requestId", g.uuid())
			g.s("reservationId", "r-0"+g.rs(lowhex, 16))
			g.s("ownerId", g.acct.id)
			g.obj("groupSet")
			g.close()
			g.obj("instancesSet")
			g.arr("items")
			g.obj("")
			g.s("instanceId", instanceID(g))
			g.obj("instanceState")
			g.int("code", 0)
			g.s("name", "pending")
			g.close()
			g.s("privateDnsName", "ip-10-0-"+strconv.Itoa(g.r.IntN(255))+"-"+strconv.Itoa(g.r.IntN(255))+".ec2.internal")
			g.int("amiLaunchIndex", 0)
			g.close()
			g.cls()
			g.close()
		}},
	{source: "s3.amazonaws.com", name: "GetBucketAcl", readOnly: true, s3ID: true,
		req: func(g *fileGen) {
			b := bucketName(g)
			g.s("bucketName", b)
			g.s("Host", b+".s3."+g.region+".amazonaws.com")
			g.s("acl", "")
		},
		extra: s3Extra,
		res: func(g *fileGen) {
			resource(g, "AWS::S3::Bucket", "arn:aws:s3:::"+bucketName(g))
		}},
	{source: "s3.amazonaws.com", name: "GetBucketPublicAccessBlock", readOnly: true, s3ID: true,
		req: func(g *fileGen) {
			b := bucketName(g)
			g.s("publicAccessBlock", "")
			g.s("bucketName", b)
			g.s("Host", b+".s3."+g.region+".amazonaws.com")
		},
		extra: s3Extra,
		res: func(g *fileGen) {
			resource(g, "AWS::S3::Bucket", "arn:aws:s3:::"+bucketName(g))
		}},
	{source: "kms.amazonaws.com", name: "Decrypt", readOnly: true,
		req: func(g *fileGen) {
			g.obj("encryptionContext")
			g.s("aws:lambda:FunctionArn", "arn:aws:lambda:"+g.region+":"+g.acct.id+":function:orders-api")
			g.close()
			g.s("encryptionAlgorithm", "SYMMETRIC_DEFAULT")
		},
		res: func(g *fileGen) {
			resource(g, "AWS::KMS::Key", "arn:aws:kms:"+g.region+":"+g.acct.id+":key/"+g.uuid())
		}},
	{source: "kms.amazonaws.com", name: "GenerateDataKey", readOnly: true,
		req: func(g *fileGen) {
			g.s("keyId", "arn:aws:kms:"+g.region+":"+g.acct.id+":key/"+g.uuid())
			g.s("keySpec", "AES_256")
			g.obj("encryptionContext")
			g.s("aws:s3:arn", "arn:aws:s3:::"+bucketName(g)+"/exports/2026/"+g.rs(lowan, 12)+".parquet")
			g.close()
		},
		res: func(g *fileGen) {
			resource(g, "AWS::KMS::Key", "arn:aws:kms:"+g.region+":"+g.acct.id+":key/"+g.uuid())
		}},
	{source: "logs.amazonaws.com", name: "CreateLogStream",
		req: func(g *fileGen) {
			g.s("logGroupName", "/aws/lambda/orders-api")
			g.s("logStreamName", "2026/01/05/[$LATEST]"+g.rs(lowhex, 32))
		}},
	{source: "monitoring.amazonaws.com", name: "GetMetricData", readOnly: true,
		req: func(g *fileGen) {
			g.arr("metricDataQueries")
			for i := range 2 {
				g.obj("")
				g.s("id", "m"+strconv.Itoa(i))
				g.obj("metricStat")
				g.obj("metric")
				g.s("namespace", "AWS/EC2")
				g.s("metricName", [...]string{"CPUUtilization", "NetworkIn"}[i])
				g.arr("dimensions")
				g.obj("")
				g.s("name", "InstanceId")
				g.s("value", instanceID(g))
				g.close()
				g.cls()
				g.close()
				g.int("period", 300)
				g.s("stat", "Average")
				g.close()
				g.bool("returnData", true)
				g.close()
			}
			g.cls()
			g.s("startTime", "Jan 5, 2026, 12:00:00 AM")
			g.s("endTime", "Jan 5, 2026, 1:00:00 AM")
		}},
	{source: "ssm.amazonaws.com", name: "GetParameter", readOnly: true,
		req: func(g *fileGen) {
			g.s("name", "/prod/orders/db-password")
			g.bool("withDecryption", true)
		},
		res: func(g *fileGen) {
			resource(g, "AWS::SSM::Parameter", "arn:aws:ssm:"+g.region+":"+g.acct.id+":parameter/prod/orders/db-password")
		}},
	{source: "dynamodb.amazonaws.com", name: "DescribeTable", readOnly: true,
		req: func(g *fileGen) { g.s("tableName", "orders-"+g.rs(lowan, 6)) },
		res: func(g *fileGen) {
			resource(g, "AWS::DynamoDB::Table", "arn:aws:dynamodb:"+g.region+":"+g.acct.id+":table/orders")
		}},
	{source: "sts.amazonaws.com", name: "GetCallerIdentity", readOnly: true},
	{source: "secretsmanager.amazonaws.com", name: "GetSecretValue", readOnly: true,
		req: func(g *fileGen) {
			g.s("secretId", "arn:aws:secretsmanager:"+g.region+":"+g.acct.id+":secret:prod/api-key-"+g.rs(alnum, 6))
		}},
	{source: "lambda.amazonaws.com", name: "ListFunctions20150331", readOnly: true,
		req: func(g *fileGen) { g.s("functionVersion", "ALL") }},
	{source: "elasticloadbalancing.amazonaws.com", name: "DescribeTargetHealth", readOnly: true,
		req: func(g *fileGen) {
			g.s("targetGroupArn", "arn:aws:elasticloadbalancing:"+g.region+":"+g.acct.id+":targetgroup/web/"+g.rs(lowhex, 16))
		}},
	{source: "rds.amazonaws.com", name: "DescribeDBInstances", readOnly: true,
		req: func(g *fileGen) { g.int("maxRecords", 100) }},
	{source: "iam.amazonaws.com", name: "GetRole", readOnly: true, global: true,
		req: func(g *fileGen) { g.s("roleName", g.pick(roleNames)) }},
	{source: "iam.amazonaws.com", name: "ListAttachedRolePolicies", readOnly: true, global: true,
		req: func(g *fileGen) { g.s("roleName", g.pick(roleNames)) }},
	{source: "iam.amazonaws.com", name: "CreateAccessKey", global: true,
		req: func(g *fileGen) { g.s("userName", g.pick(userNames)) },
		resp: func(g *fileGen) {
			g.obj("accessKey")
			g.s("userName", g.pick(userNames))
			g.s("accessKeyId", "AKIA"+g.rs(upalnum, 16))
			g.s("status", "Active")
			g.s("createDate", "Jan 5, 2026, 10:12:44 AM")
			g.close()
		}},
	{source: "iam.amazonaws.com", name: "PutRolePolicy", global: true,
		req: func(g *fileGen) {
			g.s("roleName", g.pick(roleNames))
			g.s("policyName", "inline-s3-read")
			g.s("policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::`+bucketName(g)+`","arn:aws:s3:::`+bucketName(g)+`/*"]}]}`)
		}},
	{source: "organizations.amazonaws.com", name: "DescribeOrganization", readOnly: true, global: true},
}

// regional is the subset of apis that can appear outside us-east-1.
var regional = func() []*api {
	var r []*api
	for _, a := range apis {
		if !a.global {
			r = append(r, a)
		}
	}
	return r
}()

func (g *fileGen) pickAPI(l []*api, reg []*api) *api {
	if g.region != "us-east-1" {
		return reg[g.r.IntN(len(reg))]
	}
	return l[g.r.IntN(len(l))]
}

// background writes one ordinary record.
func (g *fileGen) background() {
	x := g.r.IntN(100)
	switch {
	case x < 30: // IAM user with an access key or console session
		u := g.acct.users[g.r.IntN(len(g.acct.users))]
		a := g.pickAPI(apis, regional)
		e := a.ev(g)
		temp := g.chance(0.3)
		e.ident = g.identIAMUser(u, temp)
		e.ip, e.ua = g.ip(), g.sdkUA(a.source)
		if temp {
			e.ua = g.pick(uaBrowser)
			e.console = true
		}
		if g.chance(0.03) {
			e.errCode = "AccessDenied"
			e.errMsg = "User: arn:aws:iam::" + g.acct.id + ":user/" + u.name + " is not authorized to perform: " + a.name + " because no identity-based policy allows the action"
		}
		g.write(&e)
	case x < 75: // assumed roles: SSO, CI, workloads
		ro := g.acct.roles[g.r.IntN(len(g.acct.roles))]
		a := g.pickAPI(apis, regional)
		e := a.ev(g)
		sess := "aws-go-sdk-" + strconv.FormatInt(1700000000000000000+g.r.Int64N(1e17), 10)
		if ro.name[0] == 'A' && ro.name[1] == 'W' {
			sess = g.pick(g.acct.ssoUsers)
			e.ua = g.pick(uaBrowser)
			e.console = true
		} else {
			e.ua = g.sdkUA(a.source)
		}
		invokedBy := ""
		if g.chance(0.05) {
			invokedBy = "AWS Internal"
			e.ip = "AWS Internal"
			e.ua = "AWS Internal"
			e.tlsHost = ""
		} else {
			e.ip = g.ip()
		}
		e.ident = g.identRole(ro, sess, invokedBy, e.console)
		g.write(&e)
	case x < 84: // AWS services assuming their roles
		svc := [...]string{"lambda.amazonaws.com", "ec2.amazonaws.com", "config.amazonaws.com", "inspector2.amazonaws.com", "ecs-tasks.amazonaws.com"}[g.r.IntN(5)]
		ro := g.acct.roles[g.r.IntN(len(g.acct.roles))]
		e := ev{source: "sts.amazonaws.com", name: "AssumeRole", readOnly: true, ip: svc, ua: svc,
			eventType: "AwsApiCall", reqID: g.uuid(), shared: true, ident: g.identService(svc)}
		sess := "MandoService-" + strconv.FormatInt(g.r.Int64N(1e18), 10)
		e.req = func(g *fileGen) {
			g.s("roleArn", g.arn("iam", "role/"+ro.name))
			g.s("roleSessionName", sess)
			g.int("durationSeconds", 3600)
		}
		e.resp = func(g *fileGen) {
			g.obj("credentials")
			g.s("accessKeyId", "ASIA"+g.rs(upalnum, 16))
			g.s("sessionToken", "IQoJb3JpZ2luX2VjE"+g.rs(alnum, 300))
			g.s("expiration", "Jan 5, 2026, 12:55:24 PM")
			g.close()
			g.obj("assumedRoleUser")
			g.s("assumedRoleId", ro.id+":"+sess)
			g.s("arn", "arn:aws:sts::"+g.acct.id+":assumed-role/"+ro.name+"/"+sess)
			g.close()
		}
		e.resources = func(g *fileGen) { resource(g, "AWS::IAM::Role", g.arn("iam", "role/"+ro.name)) }
		g.write(&e)
	case x < 89: // service events: no principal type
		e := ev{source: "kms.amazonaws.com", name: "RotateKey", ip: "", ua: "", eventType: "AwsServiceEvent", reqID: "",
			ident: func(g *fileGen) {
				g.s("accountId", g.acct.id)
				g.s("invokedBy", "kms.amazonaws.com")
			}}
		e.ip, e.ua = "kms.amazonaws.com", "kms.amazonaws.com"
		e.svc = func(g *fileGen) { g.s("keyId", g.uuid()) }
		e.resources = func(g *fileGen) {
			resource(g, "AWS::KMS::Key", "arn:aws:kms:"+g.region+":"+g.acct.id+":key/"+g.uuid())
		}
		if g.chance(0.5) {
			e.source, e.name = "ec2.amazonaws.com", "SharedSnapshotVolumeCreated"
			e.ident = func(g *fileGen) {
				g.s("accountId", g.acct.id)
				g.s("invokedBy", "ec2.amazonaws.com")
			}
			e.ip, e.ua, e.shared, e.resources = "ec2.amazonaws.com", "ec2.amazonaws.com", true, nil
			e.svc = func(g *fileGen) { g.s("snapshotId", "snap-0"+g.rs(lowhex, 16)) }
		}
		g.write(&e)
	case x < 93: // another account's principal (bucket policies, shared keys)
		a := apis[4+g.r.IntN(2)] // the S3 calls
		e := a.ev(g)
		e.ident = g.identAWSAccount(g.otherAccount(), "")
		e.ip, e.ua = g.ip(), g.sdkUA("s3")
		g.write(&e)
	case x < 95: // federated users (GetFederationToken by an IAM user)
		u := g.acct.users[g.r.IntN(len(g.acct.users))]
		a := g.pickAPI(apis, regional)
		e := a.ev(g)
		e.ident = g.identFederated(u, false)
		e.ip, e.ua = g.ip(), g.pick(uaBrowser)
		g.write(&e)
	default: // IAM user console sign-in (global: us-east-1 only)
		u := g.acct.users[g.r.IntN(len(g.acct.users))]
		if g.region != "us-east-1" {
			a := regional[g.r.IntN(len(regional))]
			e := a.ev(g)
			e.ident = g.identIAMUser(u, false)
			e.ip, e.ua = g.ip(), g.sdkUA(a.source)
			g.write(&e)
			return
		}
		e := ev{source: "signin.amazonaws.com", name: "ConsoleLogin", eventType: "AwsConsoleSignIn",
			ip: g.ip(), ua: g.pick(uaBrowser), tlsHost: "signin.aws.amazon.com", region: "us-east-1",
			ident: func(g *fileGen) {
				g.s("type", "IAMUser")
				g.s("principalId", u.id)
				g.s("arn", g.arn("iam", "user/"+u.name))
				g.s("accountId", g.acct.id)
				g.s("userName", u.name)
			}}
		mfa := g.chance(0.7)
		e.resp = func(g *fileGen) { g.s("ConsoleLogin", "Success") }
		e.extra = func(g *fileGen) {
			g.s("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"+g.rs(lowhex, 16))
			g.s("MobileVersion", "No")
			if mfa {
				g.s("MFAIdentifier", g.arn("iam", "mfa/"+u.name))
				g.s("MFAUsed", "Yes")
			} else {
				g.s("MFAUsed", "No")
			}
		}
		g.write(&e)
	}
}
