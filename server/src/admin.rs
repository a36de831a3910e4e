//! `crucible admin …`: accounts and miners, managed from the command line.

use domain::accounts::{self, Email, Password};
use domain::miners::{self, Hotkey};

use crate::CliError;
use crate::config::AdminCommand;
use crate::startup;

pub async fn run(command: AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::CreateUser {
            storage,
            email,
            password_file,
            role,
        } => {
            let email = Email::parse(&email)?;
            let text = tokio::fs::read_to_string(&password_file)
                .await
                .map_err(|err| {
                    CliError::Config(format!(
                        "cannot read --password-file {}: {err}",
                        password_file.display()
                    ))
                })?;
            let password = Password::new(text.lines().next().unwrap_or_default())?;
            let db = startup::database(&storage).await?;
            let user = accounts::sign_up(&db, &email, &password, role.into()).await?;
            println!(
                "created {} account {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            );
        }
        AdminCommand::CreateApiKey {
            storage,
            email,
            name,
        } => {
            let email = Email::parse(&email)?;
            let db = startup::database(&storage).await?;
            let user = accounts::user_by_email(&db, &email).await?.ok_or_else(|| {
                CliError::Config(format!("no account with email {}", email.as_str()))
            })?;
            let new = accounts::create_api_key(&db, &user, &name).await?;
            println!(
                "API key {:?} for {} (shown once, store it now): {}",
                name,
                user.email,
                new.secret.expose()
            );
        }
        AdminCommand::SuspendMiner {
            storage,
            hotkey,
            reason,
        } => {
            let hotkey = Hotkey::parse(&hotkey)
                .map_err(|why| CliError::Config(format!("--hotkey: {why}")))?;
            let db = startup::database(&storage).await?;
            miners::suspend(&db, domain::admin_log::COMMAND_LINE, &hotkey, Some(&reason)).await?;
            println!("suspended miner {hotkey}: {reason}");
        }
        AdminCommand::ReinstateMiner { storage, hotkey } => {
            let hotkey = Hotkey::parse(&hotkey)
                .map_err(|why| CliError::Config(format!("--hotkey: {why}")))?;
            let db = startup::database(&storage).await?;
            miners::suspend(&db, domain::admin_log::COMMAND_LINE, &hotkey, None).await?;
            println!("reinstated miner {hotkey}");
        }
    }
    Ok(())
}
