"""The service against Asterisk restarts and AMI outages: it reconnects, resyncs and still records every call."""

from __future__ import annotations

import asyncio

from callcontrol.core.calls import EndObservedBy, EndReason
from callcontrol.devtools.sipp import place_call
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess
from tests.support.tcp_proxy import CuttableProxy


async def test_service_reconnects_after_asterisk_restarts_and_records_calls(
        sandbox, ami_secret, sqlite_url, no_channels_left):
    """After Asterisk restarts the service logs in again (readyz back to 200) and the next call is recorded."""
    service = await ServiceProcess(sqlite_url, ami_secret).start()
    records = Records(sqlite_url)
    try:
        await asyncio.to_thread(sandbox.restart)
        await service.wait_ready(30)
        logins = [line for line in service.log_lines() if line.get("event") == "ami.logged_in"]
        assert len(logins) >= 2
        result = await place_call("15550400", digits=[(2800, "1")])
        assert result.returncode == 0, result.output
        (record,) = await records.ended(1)
        assert [step["node"] for step in record.ivr_path] == ["greeting", "main_menu", "sales", "goodbye"]
    finally:
        await records.close()
        assert await service.stop() == 0, service.log_tail()


async def test_call_that_ends_while_ami_is_down_is_recorded_when_ami_returns(
        sandbox, ami_secret, sqlite_url, no_channels_left):
    """AMI cut mid-call: the call ends unseen; after AMI returns the resync closes its record exactly once."""
    proxy = await CuttableProxy("127.0.0.1", 5038).start()
    service = await ServiceProcess(sqlite_url, ami_secret, ami_port=proxy.port).start()
    records = Records(sqlite_url)
    try:
        call = asyncio.create_task(place_call("15550500", digits=[(2800, "2")]))
        await asyncio.sleep(1.5)
        proxy.cut_off()
        await eventually(lambda: _not_ready(service), 10, what="readyz 503 while AMI is cut")
        result = await call
        assert result.returncode == 0, result.output
        await asyncio.sleep(0.5)
        (open_record,) = await records.all()
        assert open_record.ended_at is None  # the hangup was not seen
        proxy.restore()
        await service.wait_ready(30)
        (record,) = await records.ended(1)
        assert record.end_observed_by is EndObservedBy.RESYNC
        assert record.end_reason is EndReason.FLOW_HANGUP
        assert [step["node"] for step in record.ivr_path] == ["greeting", "main_menu", "support", "goodbye"]
        assert record.ended_at == record.ivr_ended_at
        assert len(await records.all()) == 1
    finally:
        await records.close()
        assert await service.stop() == 0, service.log_tail()
        await proxy.close()


async def _not_ready(service: ServiceProcess) -> bool:
    status, body = await service.readyz()
    return status == 503 and any("AMI" in reason for reason in body.get("reasons", []))
