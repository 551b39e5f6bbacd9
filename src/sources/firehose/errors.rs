//! What can go wrong with a Firehose request, and the status each answers with. Firehose
//! retries every status but 200 and 413 (413 is final: the batch goes to its error output).

use axum::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    #[error("missing or wrong X-Amz-Firehose-Access-Key")]
    Unauthorized,
    #[error("the request has no X-Amz-Firehose-Request-Id header")]
    MissingRequestId,
    #[error("the request body is over the {0}-byte limit")]
    TooLarge(usize),
    #[error("the request body cannot be decoded: {0}")]
    BadRequest(String),
    #[error("the state store cannot commit right now ({0}); retry later")]
    Unavailable(String),
    #[error(
        "the daemon is at its limit of requests in flight ({0} requests, {1} bytes); retry later"
    )]
    Busy(usize, usize),
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
}

impl FirehoseError {
    pub fn status(&self) -> StatusCode {
        match self {
            FirehoseError::Unauthorized => StatusCode::UNAUTHORIZED,
            FirehoseError::MissingRequestId | FirehoseError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            FirehoseError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            FirehoseError::Unavailable(_) | FirehoseError::Busy(..) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            FirehoseError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }
}
