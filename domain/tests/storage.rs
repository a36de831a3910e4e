//! Object stores: the local directory and a real S3 server, through the same tests.

use std::time::Duration;

use bytes::Bytes;
use domain::storage::{self, LinkAccess, ObjectKey, ObjectStore, StorageError};
use sha2::{Digest, Sha256};

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

/// `total` bytes of a repeating pattern, in chunks of `chunk` bytes.
fn pattern(total: usize, chunk: usize) -> (Vec<u8>, storage::ByteStream) {
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (data, Box::pin(futures::stream::iter(chunks)))
}

testkit::on_both_stores! {
    async fn a_small_object_round_trips_with_its_hash(store: Arc<dyn ObjectStore>) {
        let stored = store.put(&key("a/b.txt"), storage::bytes_stream("hello")).await.unwrap();
        assert_eq!(stored.size, 5);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello")));
        assert_eq!(storage::collect(store.get(&key("a/b.txt")).await.unwrap()).await.unwrap(), b"hello");
        assert_eq!(store.size(&key("a/b.txt")).await.unwrap(), Some(5));
    }

    async fn an_empty_object_is_an_object(store: Arc<dyn ObjectStore>) {
        let stored = store.put(&key("empty"), storage::bytes_stream(Bytes::new())).await.unwrap();
        assert_eq!(stored.size, 0);
        assert_eq!(store.size(&key("empty")).await.unwrap(), Some(0));
    }

    async fn a_large_object_streams_in_parts(store: Arc<dyn ObjectStore>) {
        // Two and a half parts, fed in 64 KiB chunks: on S3 this is a three-part multipart upload.
        let (data, body) = pattern(storage::PART_SIZE * 5 / 2, 64 * 1024);
        let stored = store.put(&key("big/model.tar"), body).await.unwrap();
        assert_eq!(stored.size, data.len() as u64);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));
        let back = storage::collect(store.get(&key("big/model.tar")).await.unwrap()).await.unwrap();
        assert!(back == data, "the object read back differs from what was written");
    }

    async fn a_body_that_fails_leaves_nothing_behind(store: Arc<dyn ObjectStore>) {
        for size in [1024, storage::PART_SIZE + 1024] {
            let (_, good) = pattern(size, 64 * 1024);
            let failing = futures::StreamExt::chain(
                good,
                futures::stream::once(async { Err(std::io::Error::other("client went away")) }),
            );
            let err = store.put(&key("broken"), Box::pin(failing)).await.unwrap_err();
            assert!(matches!(err, StorageError::Io(_)), "{err:?}");
            assert_eq!(store.size(&key("broken")).await.unwrap(), None);
        }
    }

    async fn a_failed_rewrite_keeps_the_old_object(store: Arc<dyn ObjectStore>) {
        store.put(&key("kept"), storage::bytes_stream("version 1")).await.unwrap();
        let failing = futures::stream::iter(vec![Ok(Bytes::from("version 2 par")), Err(std::io::Error::other("cut"))]);
        assert!(store.put(&key("kept"), Box::pin(failing)).await.is_err());
        assert_eq!(storage::collect(store.get(&key("kept")).await.unwrap()).await.unwrap(), b"version 1");
    }

    async fn missing_objects_are_reported_as_missing(store: Arc<dyn ObjectStore>) {
        let Err(err) = store.get(&key("nope")).await else { panic!("got a missing object") };
        assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
        assert_eq!(store.size(&key("nope")).await.unwrap(), None);
        store.delete(&key("nope")).await.unwrap();
    }

    async fn delete_removes_the_object(store: Arc<dyn ObjectStore>) {
        store.put(&key("gone"), storage::bytes_stream("x")).await.unwrap();
        store.delete(&key("gone")).await.unwrap();
        assert_eq!(store.size(&key("gone")).await.unwrap(), None);
    }
}

#[tokio::test]
async fn keys_are_confined_to_the_store() {
    let (store, dir) = testkit::local_store().await;
    store
        .put(&key("inside/file"), storage::bytes_stream("x"))
        .await
        .unwrap();
    assert!(dir.path().join("objects/inside/file").is_file());
    assert!(ObjectKey::new("../outside").is_err());
}

#[tokio::test]
async fn s3_objects_live_under_the_configured_prefix_and_presigned_links_work() {
    let config = testkit::s3_config();
    let store = storage::S3Store::new(config.clone());
    store
        .put(&key("doc.txt"), storage::bytes_stream("presigned body"))
        .await
        .unwrap();

    let read = store
        .presign(&key("doc.txt"), LinkAccess::Read, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        read.contains(&format!("/{}/{}/doc.txt", config.bucket, config.prefix)),
        "{read}"
    );
    assert!(read.contains("X-Amz-Signature="), "{read}");
    let (status, body) = testkit::http::request("GET", &read, b"").await;
    assert_eq!(
        (status, body.as_slice()),
        (200, b"presigned body".as_slice())
    );

    let write = store
        .presign(
            &key("uploaded.bin"),
            LinkAccess::Write,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let (status, _) = testkit::http::request("PUT", &write, b"sent by a miner").await;
    assert_eq!(status, 200);
    let back = storage::collect(store.get(&key("uploaded.bin")).await.unwrap())
        .await
        .unwrap();
    assert_eq!(back, b"sent by a miner");

    // A tampered link is refused by the server.
    let tampered = read.replace("doc.txt", "uploaded.bin");
    let (status, _) = testkit::http::request("GET", &tampered, b"").await;
    assert_eq!(status, 403);
}
