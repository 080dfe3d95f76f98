package fakeaws

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"time"
)

// RootConsoleLogin is a CloudTrail record of a successful root console
// sign-in, in the shape CloudTrail writes (userIdentity.type Root,
// eventType AwsConsoleSignIn, responseElements.ConsoleLogin Success).
func RootConsoleLogin(account string, at time.Time, eventID string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"%[1]s","arn":"arn:aws:iam::%[1]s:root","accountId":"%[1]s","accessKeyId":""},"eventTime":"%[2]s","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"eventID":"%[3]s","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, at.UTC().Format(time.RFC3339), eventID)
}

// RootFailedLogin is a failed root console sign-in.
func RootFailedLogin(account string, at time.Time, eventID string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"%[1]s","arn":"arn:aws:iam::%[1]s:root","accountId":"%[1]s","accessKeyId":""},"eventTime":"%[2]s","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","requestParameters":null,"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},"eventID":"%[3]s","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, at.UTC().Format(time.RFC3339), eventID)
}

// UserAPICall is an IAM user's API call: not root activity.
func UserAPICall(account string, at time.Time, eventID string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::%[1]s:user/RootRotationBot","accountId":"%[1]s","accessKeyId":"AKIAEXAMPLE","userName":"RootRotationBot"},"eventTime":"%[2]s","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.11","userAgent":"aws-cli/2.15.0","requestParameters":null,"responseElements":null,"eventID":"%[3]s","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, at.UTC().Format(time.RFC3339), eventID)
}

// LogFile is a gzipped CloudTrail log file holding records.
func LogFile(records ...string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[` + strings.Join(records, ",") + `]}`))
	zw.Close()
	return b.Bytes()
}

// LogKey is the AWSLogs key CloudTrail uses for a log file of account.
func LogKey(prefix, account string, at time.Time, n int) string {
	at = at.UTC()
	return fmt.Sprintf("%sAWSLogs/%s/CloudTrail/us-east-1/%s/%s_CloudTrail_us-east-1_%sZ_%04dabcdEXAMPLE.json.gz",
		prefix, account, at.Format("2006/01/02"), account, at.Format("20060102T1504"), n)
}
