#![deny(warnings)]
//! `#[async_trait]` methods (`Send` and `?Send`, with defaults, generics and references): the
//! attribute sees the `Pin<Box<dyn Future>>` that `#[async_trait]` makes and instruments it.

use async_trait::async_trait;
use tracewell::traced;

#[async_trait]
trait Repo {
    async fn save(&self, id: u32, body: &str) -> Result<u32, String>;

    #[traced]
    async fn count(&self) -> usize {
        0
    }
}

#[async_trait(?Send)]
trait Local {
    async fn name(&mut self) -> String;
}

struct Db(Vec<u32>);

#[async_trait]
impl Repo for Db {
    #[traced(skip(body))]
    async fn save(&self, id: u32, body: &str) -> Result<u32, String> {
        if body.is_empty() {
            return Err("empty".to_owned());
        }
        tokio::task::yield_now().await;
        Ok(id + u32::try_from(self.0.len()).map_err(|e| e.to_string())?)
    }
}

#[async_trait(?Send)]
impl Local for Db {
    #[traced]
    async fn name(&mut self) -> String {
        self.0.push(1);
        format!("db{}", self.0.len())
    }
}

#[async_trait]
trait Convert<T: Send + Sync> {
    async fn convert(&self, t: T) -> T;
}

#[async_trait]
impl<T: Send + Sync + Clone + 'static> Convert<T> for Db {
    #[traced]
    async fn convert(&self, t: T) -> T {
        t.clone()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut db = Db(vec![]);
        assert_eq!(db.save(1, "x").await, Ok(1));
        assert!(db.save(1, "").await.is_err());
        assert_eq!(db.count().await, 0);
        assert_eq!(db.name().await, "db1");
        assert_eq!(db.convert(3u8).await, 3);
        let boxed: Box<dyn Repo + Send + Sync> = Box::new(Db(vec![]));
        assert_eq!(boxed.save(2, "y").await, Ok(2));
    });
}
