from datetime import UTC, datetime, timedelta

from prefect_image_edit.vendors.results import EraseResult, result_url_expiry

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def test_tencent_cos_url_expiry_is_end_of_sign_time_window():
    url = (
        "https://aiart-xxx.cos.ap-guangzhou.myqcloud.com/xxx.jpg?q-sign-algorithm=sha1&q-ak=xxxxx"
        "&q-sign-time=1731574045;1731577645&q-key-time=1731574045;1731577645"
        "&q-header-list=host&q-url-param-list=&q-signature=31fe75c1"
    )
    assert result_url_expiry(url, vendor="tencent", received_at=RECEIVED) == datetime.fromtimestamp(
        1731577645, UTC
    )


def test_tencent_percent_encoded_semicolon_is_understood():
    url = "https://b.cos.ap-guangzhou.myqcloud.com/a.jpg?q-sign-time=1731574045%3B1731577645"
    assert result_url_expiry(url, vendor="tencent", received_at=RECEIVED).timestamp() == 1731577645


def test_volcengine_x_expires():
    url = "https://p9-aiop-sign.byteimg.com/tos-cn-i-vuqhorh59i/x.image?rk3s=7f9e702d&x-expires=1731577645&x-signature=abc"
    assert (
        result_url_expiry(url, vendor="volcengine", received_at=RECEIVED).timestamp() == 1731577645
    )


def test_without_expiry_in_url_falls_back_to_vendor_ttl():
    url = "https://ailab-outputs.oss-accelerate.aliyuncs.com/a.png"
    assert result_url_expiry(
        url, vendor="ailabtools", received_at=RECEIVED
    ) == RECEIVED + timedelta(hours=24)
    assert result_url_expiry(url, vendor="tencent", received_at=RECEIVED) == RECEIVED + timedelta(
        hours=1
    )


def test_image_bytes_stay_out_of_repr():
    result = EraseResult(vendor="tencent", action="ImageInpaintingRemoval", image_bytes=b"\x89PNG")
    assert "PNG" not in repr(result)
