//! Accounts against a real database: each test runs on SQLite and on PostgreSQL.

use domain::Error;
use domain::accounts::{self, Email, MAX_FAILED_SIGN_INS, Password, Role};
use domain::db::Database;

async fn customer(db: &Database, email: &str) -> accounts::User {
    let email = Email::parse(email).unwrap();
    accounts::sign_up(
        db,
        &email,
        &Password::new("a long enough password").unwrap(),
        Role::Customer,
    )
    .await
    .unwrap()
}

testkit::on_both_databases! {
    async fn migrations_are_applied(db: Database) {
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations")).unwrap().count() as i64;
        assert_eq!(db.applied_migrations().await.unwrap(), (1..=files).collect::<Vec<i64>>(), "every file of migrations/, in order");
    }

    async fn sign_up_then_sign_in(db: Database) {
        let user = customer(&db, "Ada@Example.org").await;
        assert_eq!(user.email, "ada@example.org");
        assert_eq!(user.role, Role::Customer);
        let email = Email::parse("ada@example.org").unwrap();
        let signed_in = accounts::sign_in(&db, &email, "a long enough password").await.unwrap();
        assert_eq!(signed_in, user);
    }

    async fn the_same_email_cannot_sign_up_twice(db: Database) {
        customer(&db, "ada@example.org").await;
        let email = Email::parse("ADA@example.org").unwrap();
        let err = accounts::sign_up(&db, &email, &Password::new("another password").unwrap(), Role::Miner)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { field: Some("email"), .. }), "{err:?}");
    }

    async fn a_wrong_password_is_refused(db: Database) {
        customer(&db, "ada@example.org").await;
        let email = Email::parse("ada@example.org").unwrap();
        let err = accounts::sign_in(&db, &email, "not the password").await.unwrap_err();
        assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
        assert_eq!(err.to_string(), "wrong email or password");
        let unknown = Email::parse("nobody@example.org").unwrap();
        let err = accounts::sign_in(&db, &unknown, "a long enough password").await.unwrap_err();
        assert_eq!(err.to_string(), "wrong email or password");
    }

    async fn the_sixth_failed_sign_in_within_a_minute_is_throttled(db: Database) {
        customer(&db, "ada@example.org").await;
        customer(&db, "bob@example.org").await;
        let ada = Email::parse("ada@example.org").unwrap();
        for _ in 0..MAX_FAILED_SIGN_INS {
            let err = accounts::sign_in(&db, &ada, "guess").await.unwrap_err();
            assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
        }
        // Now even the right password is refused until the minute has passed.
        let err = accounts::sign_in(&db, &ada, "a long enough password").await.unwrap_err();
        let Error::RateLimited { message, retry_after_secs } = err else { panic!("{err:?}") };
        assert!(message.contains("too many failed sign-ins"), "{message}");
        assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
        // Other accounts are not affected.
        let bob = Email::parse("bob@example.org").unwrap();
        assert!(accounts::sign_in(&db, &bob, "a long enough password").await.is_ok());
    }

    async fn api_keys_authenticate_until_revoked(db: Database) {
        let ada = customer(&db, "ada@example.org").await;
        let new = accounts::create_api_key(&db, &ada, "ci").await.unwrap();
        let secret = new.secret.expose().clone();
        assert!(secret.starts_with(&new.key.prefix));
        assert_eq!(accounts::authenticate_api_key(&db, &secret).await.unwrap(), Some(ada.clone()));

        let listed = accounts::list_api_keys(&db, &ada).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "ci");
        assert!(listed[0].last_used_at.is_some(), "using a key records when");

        accounts::revoke_api_key(&db, &ada, &new.key.id).await.unwrap();
        assert_eq!(accounts::authenticate_api_key(&db, &secret).await.unwrap(), None);
        let listed = accounts::list_api_keys(&db, &ada).await.unwrap();
        assert!(listed[0].revoked_at.is_some());
    }

    async fn nobody_revokes_another_users_key(db: Database) {
        let ada = customer(&db, "ada@example.org").await;
        let bob = customer(&db, "bob@example.org").await;
        let key = accounts::create_api_key(&db, &ada, "ci").await.unwrap();
        let err = accounts::revoke_api_key(&db, &bob, &key.key.id).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
        assert!(accounts::authenticate_api_key(&db, key.secret.expose()).await.unwrap().is_some());
    }

    async fn a_key_needs_a_name(db: Database) {
        let ada = customer(&db, "ada@example.org").await;
        let err = accounts::create_api_key(&db, &ada, "   ").await.unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "name", .. }), "{err:?}");
    }
}
