//! Connecting to Aurora DSQL: user `admin`, an IAM token signed by AWS's own
//! `aws-sdk-dsql` for every new connection, TLS with certificate verification.

use super::error::RunError;
use aws_sdk_dsql::auth_token::{AuthTokenGenerator, Config};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Token lifetime: a token is only checked at connect, so short is fine and safer.
const TOKEN_SECONDS: u64 = 900;

/// Signs admin tokens for one cluster.
pub(crate) struct Signer {
    endpoint: String,
    sdk: aws_config::SdkConfig,
    generator: AuthTokenGenerator,
}

impl Signer {
    /// Loads credentials from the standard AWS chain (environment, profile, SSO, IMDS..).
    pub async fn new(endpoint: &str, region: &str) -> Result<Signer, RunError> {
        // The credential chain's HTTP client (STS, IMDS, ECS) on rustls with ring, as sqlx's
        // TLS; otherwise as aws-config's default client builds it, proxies from the
        // environment (HTTPS_PROXY, NO_PROXY) included.
        let https = aws_smithy_http_client::Builder::new().build_with_connector_fn(
            |settings, components| {
                let mut connector =
                    ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
                connector.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    connector.set_sleep_impl(components.sleep_impl());
                }
                connector.set_proxy_config(Some(ProxyConfig::from_env()));
                connector.build()
            },
        );
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https)
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        let config = Config::builder()
            .hostname(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .expires_in(TOKEN_SECONDS)
            .build()
            .map_err(|e| RunError::Config(format!("dsql endpoint {endpoint}: {e}")))?;
        Ok(Signer {
            endpoint: endpoint.to_owned(),
            sdk,
            generator: AuthTokenGenerator::new(config),
        })
    }

    /// Connection options with a fresh token (never logged).
    pub async fn options(&self) -> Result<PgConnectOptions, RunError> {
        let token = self
            .generator
            .db_connect_admin_auth_token(&self.sdk)
            .await
            .map_err(|e| {
                RunError::Config(format!(
                    "signing an IAM token for {}: {e} (check AWS credentials and region)",
                    self.endpoint
                ))
            })?;
        Ok(PgConnectOptions::new()
            .host(&self.endpoint)
            .port(5432)
            .username("admin")
            .password(token.as_str())
            .database("postgres")
            .ssl_mode(PgSslMode::VerifyFull)
            .application_name("tablewright"))
    }
}
