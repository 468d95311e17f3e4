"""Google Cloud Pub/Sub push notifications of Vertex AI operations (`pubsubTopic`)."""
