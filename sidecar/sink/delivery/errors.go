package delivery

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Class says what a failed send means for the batch.
type Class int

const (
	// Network: no answer (connection refused or reset, DNS, the attempt
	// timed out). Retried.
	Network Class = iota
	// Throttled: the service asked to slow down. Retried.
	Throttled
	// Server: a 5xx or a retryable service error. Retried.
	Server
	// Failing: the sink is misconfigured or not allowed (access denied, no
	// such bucket, log group or delivery stream, KMS key unusable). Retried
	// at the longest backoff until someone fixes it; the sink reports
	// failing meanwhile.
	Failing
	// Rejected: the service refused this batch's content. Retried a few
	// times, then the batch is dropped and counted.
	Rejected
)

var classNames = [...]string{"network", "throttled", "server", "failing", "rejected"}

func (c Class) String() string { return classNames[c] }

// ClassError gives an error its class explicitly, for senders that know
// better than Classify (S3, whose 400s are configuration errors).
type ClassError struct {
	Class Class
	Err   error
}

func (e *ClassError) Error() string { return e.Err.Error() }
func (e *ClassError) Unwrap() error { return e.Err }

// rejectedCodes are the service errors about a request's content.
var rejectedCodes = map[string]bool{
	"InvalidParameterException": true, "ValidationException": true, "SerializationException": true,
	"InvalidArgumentException": true, "DataAlreadyAcceptedException": true,
}

// transientCodes come and go without anyone's help: retried as Server.
var transientCodes = map[string]bool{
	"ExpiredToken": true, "ExpiredTokenException": true, "RequestExpired": true, "RequestTimeout": true,
	"RequestTimeoutException": true, "IDPCommunicationError": true, "ServiceUnavailableException": true,
	"InternalFailure": true, "InternalError": true, "ServiceUnavailable": true, "OperationAbortedException": true,
}

// Classify sorts an error from an AWS SDK call.
func Classify(err error) Class {
	var ce *ClassError
	if errors.As(err, &ce) {
		return ce.Class
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return Throttled
		}
		if _, ok := retry.DefaultRetryableErrorCodes[code]; ok || transientCodes[code] {
			return Server
		}
		if rejectedCodes[code] {
			return Rejected
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		switch status := resp.HTTPStatusCode(); {
		case status == 429:
			return Throttled
		case status >= 500:
			return Server
		case status >= 400:
			return Failing
		}
	}
	if api != nil {
		return Failing // a service error without an HTTP response
	}
	// No answer: refused, reset, timed out, DNS.
	return Network
}
