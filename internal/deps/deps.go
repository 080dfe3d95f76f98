//go:build rootwatchdeps

// Package deps pins the modules the project depends on so that parallel work
// on separate packages never races on go.mod. It is never built.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/iam"
	_ "github.com/aws/aws-sdk-go-v2/service/organizations"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/aws-sdk-go-v2/service/sesv2"
	_ "github.com/aws/aws-sdk-go-v2/service/sns"
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/johannesboyne/gofakes3"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/mocktools/go-smtp-mock/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/tidwall/gjson"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/wneessen/go-mail"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
)
