"""What the backup test asks of its S3 server (moto on loopback), through boto3.

  setup ENDPOINT BUCKET       make a user with an s3:* key (the last unauthenticated calls
                              the server allows), then the bucket with that key; prints
                              "KEY_ID SECRET"
  list ENDPOINT BUCKET ID SECRET
                              every object as "NAME SHA256" of its bytes, read back
"""
import hashlib
import json
import sys

import boto3

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def client(service, endpoint, key_id, secret):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def setup(endpoint, bucket):
    iam = client("iam", endpoint, "unused", "unused")
    iam.create_user(UserName="backup")
    key = iam.create_access_key(UserName="backup")["AccessKey"]
    iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=POLICY)
    s3 = client("s3", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    s3.create_bucket(Bucket=bucket)
    print(key["AccessKeyId"], key["SecretAccessKey"])


def list_objects(endpoint, bucket, key_id, secret):
    s3 = client("s3", endpoint, key_id, secret)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            print(item["Key"], hashlib.sha256(body).hexdigest())


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"setup": setup, "list": list_objects}[command](*arguments)
